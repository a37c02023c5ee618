#!/usr/bin/env bash
# The q8 figures of docs/packing.md ("q8 accuracy and speed"), measured again:
#   1. the demo model packed as q8 from its bf16 bundle, logits over a prose sample
#      against the bf16 bundle's, and the bundle sizes;
#   2. a random Mamba-130m in f32, bf16 and q8 from one seed, logits over 300 tokens;
#   3. decode ms/token of the three at one thread (three interleaved runs each).
# Needs a release build (sdk/scripts/build.sh) and numpy. Usage: q8_figures.sh [WORK_DIR]
# Several minutes on two cores; part 2 writes about 900 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
mmb=$root/build/release/sdk/tools/mmb
py=/usr/bin/python3
compare="$py $root/sdk/scripts/compare_logits.py"
work=${1:-build/q8-figures}
mkdir -p "$work"
cd "$work"

cat > prose.txt <<'TEXT'
The committee met on Tuesday morning to consider the report that the mayor had sent to the council last week. Several members said that the plan would cost the city more than it could afford, and they asked for a new study of the problem. Others argued that the schools and the roads could not wait another year, and that the people of the county had already voted for the bond issue in the spring election. After a long debate the chairman called for a vote, and the motion to delay the project was defeated by a narrow margin.
She looked out of the window at the rain and wondered whether he would come home before dark. The children were asleep upstairs, and the house was quiet except for the old clock in the hall. When she heard the car in the drive she went to the door and opened it, and for a moment neither of them said anything at all.
In the years after the war the small farms of the valley gave way to larger holdings, and many of the young men moved to the cities to find work in the factories. The churches and the general stores remained, but the life of the community changed in ways that the older residents found hard to understand.
TEXT

echo "== 1. demo model: q8 against the shipped bf16"
demo=$root/models/demo-moe-mamba.mmb
"$mmb" pack "$demo" -o demo-bf16-raw.mmb
"$mmb" pack "$demo" --dtype q8 -o demo-q8.mmb
"$mmb" pack "$demo" --dtype q8 --codec shuffle-zstd --level 19 -o demo-q8-zstd.mmb
ls -l "$demo" demo-bf16-raw.mmb demo-q8.mmb demo-q8-zstd.mmb
MOEMAMBA_LIB=$root/build/release/src/libmoemamba.so PYTHONPATH=$root/bindings/python $py -c "
import moemamba
model = moemamba.Model.load_file(moemamba.Runtime(1), '$demo')
print(','.join(map(str, model.tokenize(open('prose.txt').read(), add_bos=True))))" > prose_ids.txt
"$mmb" logits "$demo" --tokens "$(cat prose_ids.txt)" --out demo-bf16.npy --threads 1
"$mmb" logits demo-q8.mmb --tokens "$(cat prose_ids.txt)" --out demo-q8.npy --threads 1
$compare demo-bf16.npy demo-q8.npy prose_ids.txt

echo "== 2. random Mamba-130m: bf16 and q8 against f32"
tokens=$($py -c "print(','.join(str((i * 7919 + 13) % 50280) for i in range(300)))")
for d in f32 bf16 q8; do
  "$mmb" synth --shape mamba-130m --dtype $d -o random-$d.mmb
  "$mmb" logits random-$d.mmb --tokens "$tokens" --out random-$d.npy --threads 1
done
ls -l random-*.mmb
echo "-- bf16"; $compare random-f32.npy random-bf16.npy
echo "-- q8"; $compare random-f32.npy random-q8.npy
rm -f random-*.mmb random-*.npy

echo "== 3. decode at one thread, Mamba-130m shape"
for run in 1 2 3; do
  for d in f32 bf16 q8; do
    printf '%s run %s: ' $d $run
    "$mmb" bench decode --shape mamba-130m --dtype $d --threads 1 --repetitions 1 --tokens 64 --prefill 0 --batch 0 |
      grep 'decode b=1'
  done
done
