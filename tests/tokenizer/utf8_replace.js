// The outside reference for the streaming detokenizer: decodes a file of arbitrary
// bytes as UTF-8 with the WHATWG decoder (one U+FFFD per maximal invalid subpart, a
// leading byte order mark kept) and writes the result back as UTF-8.
//
// usage: node utf8_replace.js BYTES.bin TEXT.bin
'use strict';
const fs = require('fs');

const [inputPath, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: node utf8_replace.js BYTES.bin TEXT.bin');
  process.exit(2);
}
const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(fs.readFileSync(inputPath));
fs.writeFileSync(outputPath, Buffer.from(text, 'utf8'));
