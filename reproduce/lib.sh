# Shared by the reproduction scripts; source it from the repository root:
#   source reproduce/lib.sh
#
#   locus_binary        prints the `locus` to run: $LOCUS_BIN when set, else a private copy
#                       of target/release/locus built now (a copy, so rebuilding the
#                       workspace during a long reproduction does not swap binaries).
#   train_once DIR ARGS...
#                       runs `$locus train ${common[@]} ARGS... --out DIR` unless
#                       DIR/results.json exists (FORCE=1 redoes it). ARGS go to
#                       DIR/args.txt, so a table can show what each run changed; the
#                       script's `common` array, when it sets one, is the part its runs
#                       share and is not repeated there. A failed run leaves the last
#                       error line of its stderr in DIR/failed.txt and returns 1 (which
#                       stops a script under `set -e`; one without it goes on).
# The script sets `locus` (usually `locus=$(locus_binary)`) before calling train_once.

locus_binary() {
  if [ -n "${LOCUS_BIN:-}" ]; then
    echo "$LOCUS_BIN"
    return
  fi
  cargo build --release -q -p locus-cli >&2 || return 1
  local copy
  copy=$(mktemp -d)/locus
  cp target/release/locus "$copy"
  echo "$copy"
}

train_once() {  # train_once DIR ARGS...
  local dir=$1
  shift
  if [ -z "${FORCE:-}" ] && [ -f "$dir/results.json" ]; then
    echo "kept $dir"
    return 0
  fi
  echo "== $dir"
  rm -rf "${dir:?}"
  mkdir -p "$dir"
  echo "$*" > "$dir/args.txt"
  if ! "$locus" train ${common[@]+"${common[@]}"} "$@" --out "$dir" \
    2> "$dir/stderr.txt" > /dev/null; then
    grep -a "^error" "$dir/stderr.txt" | tail -1 > "$dir/failed.txt"
    echo "failed: $dir ($(cat "$dir/failed.txt"))" >&2
    rm -f "$dir/stderr.txt"
    return 1
  fi
  rm -f "$dir/stderr.txt"
}
