#!/bin/sh
# Fails when a C source uses a function we do not allow (unbounded or
# thread-unsafe): strcpy, strcat, sprintf, vsprintf, strtok, atoi, atol, gets; and raw
# malloc/calloc/realloc/strdup/strndup outside proto/alloc.c.
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
# Our own code allocates through proto/alloc.h (so a test can make any allocation fail).
raw=$(grep -rnE '(^|[^_.>[:alnum:]])(malloc|calloc|realloc|strdup|strndup)[[:space:]]*\(' \
  "$root/cli" "$root/agent" "$root/proto" "$root/store" --include='*.c' --include='*.h' |
  grep -v '^[^:]*proto/alloc\.c:' | grep -vE '^[^:]*:[0-9]+:[[:space:]]*(/\*|\*|//)' || true)
if [ -n "$raw" ]; then
  echo "raw allocation (use cc_malloc & co., proto/alloc.h):"
  echo "$raw"
  exit 1
fi
echo "no banned functions"
