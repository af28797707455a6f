#!/bin/sh
# Fails when a C source uses a function we do not allow (unbounded or
# thread-unsafe): strcpy, strcat, sprintf, vsprintf, strtok, atoi, atol, gets.
set -eu
root=${1:-.}
hits=$(grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets)[[:space:]]*\(' \
  "$root/cli" "$root/agent" "$root/proto" "$root/store" "$root/tests/unit" "$root/tests/fuzz" \
  "$root/tests/integration" --include='*.c' --include='*.h' || true)
if [ -n "$hits" ]; then
  echo "banned functions used:"
  echo "$hits"
  exit 1
fi
echo "no banned functions"
