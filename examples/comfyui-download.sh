#!/bin/sh
# The worker's one-time setup (a oneshot in examples/comfyui-worker.conf): "downloads" the
# model into $COMFYUI_MODEL_DIR (default /tmp/comfyui-worker/models). The file appears whole
# (written aside, then renamed), so whatever starts after this exits 0 finds it complete.
# Already there: nothing to do.
set -eu
dir=${COMFYUI_MODEL_DIR:-/tmp/comfyui-worker/models}
model=$dir/sd_xl_base_1.0.safetensors
if [ -e "$model" ]; then
  echo "download: $model already present"
  exit 0
fi
mkdir -p "$dir"
echo "download: fetching sd_xl_base_1.0.safetensors into $dir"
for pct in 25 50 75 100; do
  sleep 0.25
  echo "download: $pct%"
done
printf 'stand-in model weights\n' > "$model.part"
mv "$model.part" "$model"
echo "download: done"
