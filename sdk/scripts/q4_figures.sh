#!/usr/bin/env bash
# The q4 figures of docs/packing.md ("q4 accuracy and speed"), measured again:
#   1. the demo model packed as q4 and q8 from its bf16 bundle, logits over a prose
#      sample against the bf16 bundle's (top-1 agreement, RMS logit difference,
#      perplexity of the text), and the bundle sizes;
#   2. a random Mamba-130m in f32, q8 and q4 from one seed, logits over 300 tokens;
#   3. decode of the Mamba-130m shape in q8 and q4: batch 1 and 16, prefill 256, one
#      and two threads, with the best kernels and with AVX2 only (MMB_CPU_KERNELS=avx2).
# Needs a release build and numpy. Usage: q4_figures.sh [WORK_DIR]; MMB_BUILD names the
# build folder (default build/release). Several minutes on two cores; part 2 writes
# about 700 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=$root/${MMB_BUILD:-build/release}
mmb=$build/sdk/tools/mmb
py=/usr/bin/python3
compare="$py $root/sdk/scripts/compare_logits.py"
work=${1:-build/q4-figures}
mkdir -p "$work"
cd "$work"

# The prose sample of q8_figures.sh: text the demo model was not trained on.
sed -n "/^cat > prose.txt <<'TEXT'$/,/^TEXT$/p" "$root/sdk/scripts/q8_figures.sh" | sed '1d;$d' > prose.txt

echo "== 1. demo model: q4 and q8 against the shipped bf16"
demo=$root/models/demo-moe-mamba.mmb
"$mmb" pack "$demo" -o demo-bf16-raw.mmb --quiet
for d in q8 q4; do
  "$mmb" pack "$demo" --dtype $d -o demo-$d.mmb --quiet
  "$mmb" pack "$demo" --dtype $d --codec shuffle-zstd --level 19 -o demo-$d-zstd.mmb --quiet
done
ls -l "$demo" demo-bf16-raw.mmb demo-q8.mmb demo-q8-zstd.mmb demo-q4.mmb demo-q4-zstd.mmb
MOEMAMBA_LIB=$build/src/libmoemamba.so PYTHONPATH=$root/bindings/python $py -c "
import moemamba
model = moemamba.Model.load_file(moemamba.Runtime(1), '$demo')
print(','.join(map(str, model.tokenize(open('prose.txt').read(), add_bos=True))))" > prose_ids.txt
"$mmb" logits "$demo" --tokens "$(cat prose_ids.txt)" --out demo-bf16.npy --threads 1
for d in q8 q4; do
  "$mmb" logits demo-$d.mmb --tokens "$(cat prose_ids.txt)" --out demo-$d.npy --threads 1
  echo "-- $d"; $compare demo-bf16.npy demo-$d.npy prose_ids.txt
done

echo "== 2. random Mamba-130m: q8 and q4 against f32"
tokens=$($py -c "print(','.join(str((i * 7919 + 13) % 50280) for i in range(300)))")
for d in f32 q8 q4; do
  "$mmb" synth --shape mamba-130m --dtype $d -o random-$d.mmb --quiet
  "$mmb" logits random-$d.mmb --tokens "$tokens" --out random-$d.npy --threads 1
done
ls -l random-*.mmb
for d in q8 q4; do echo "-- $d"; $compare random-f32.npy random-$d.npy; done
rm -f random-*.mmb random-*.npy

echo "== 3. decode, Mamba-130m shape"
for kernels in "" avx2; do
  for d in q8 q4; do
    echo "-- $d, kernels: ${kernels:-best}"
    env ${kernels:+MMB_CPU_KERNELS=$kernels} "$mmb" bench decode --shape mamba-130m --dtype $d --threads 1 --threads 2 \
      --batch 1 --batch 16 --prefill 256 --tokens 64
  done
done
