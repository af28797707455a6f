#!/bin/sh
# Fails when a C source under cli/, agent/, proto/ or store/ is not formatted by .clang-format.
# Skips (77) where clang-format is not installed.
set -eu
root=${1:-.}
command -v clang-format >/dev/null 2>&1 || { echo "clang-format not installed"; exit 77; }
cd "$root"
bad=""
for f in cli/*.c cli/*.h agent/*.c agent/*.h proto/*.c proto/*.h store/*.c store/*.h; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
  echo "not formatted (run clang-format -i):$bad"
  exit 1
fi
echo "formatted"
