// The outside reference for our byte-level BPE: encodes each string of a JSON array
// with the npm package gpt-3-encoder (GPT-2's encoder, ported to JavaScript) and
// writes the ids as a JSON array of arrays. Each string is encoded on its own, with
// one call, exactly as given.
//
// usage: node gpt2_encode.js PACKAGE_DIR TEXTS.json IDS.json
'use strict';
const fs = require('fs');

const [packageDir, inputPath, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: node gpt2_encode.js PACKAGE_DIR TEXTS.json IDS.json');
  process.exit(2);
}
const { encode } = require(packageDir);
const texts = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
const ids = texts.map((text) => encode(text));
for (const [i, list] of ids.entries()) {
  if (list.some((id) => typeof id !== 'number')) {
    console.error(`text ${i}: the encoder produced a piece that is not in its vocabulary`);
    process.exit(1);
  }
}
fs.writeFileSync(outputPath, JSON.stringify(ids));
