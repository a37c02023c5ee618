// The outside reference for the streaming detokenizer: decodes byte strings as UTF-8
// with the WHATWG decoder (one U+FFFD per maximal invalid subpart, a leading byte
// order mark kept) and gives the results back as UTF-8.
//
// usage: node utf8_replace.js IN.json OUT.json
//   IN.json: an array of byte strings, each in hex; OUT.json: the decoded texts, in hex.
'use strict';
const fs = require('fs');

const [inputPath, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: node utf8_replace.js IN.json OUT.json');
  process.exit(2);
}
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const inputs = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
const outputs = inputs.map((hex) => Buffer.from(decoder.decode(Buffer.from(hex, 'hex')), 'utf8').toString('hex'));
fs.writeFileSync(outputPath, JSON.stringify(outputs));
