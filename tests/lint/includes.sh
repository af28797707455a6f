#!/bin/bash
# Fails on include structure the layering forbids (quoted includes only):
#
#  1. An upward include across layers. Top to bottom: cli/ -> agent/ -> store/ -> proto/.
#     A file may include headers of its own layer and of the layers below it.
#     A quoted include without a folder ("x.h") is taken as the file's own folder.
#  2. An include cycle between modules of one folder. A module is a basename
#     (x.c + x.h are module x); x depends on y when x.c or x.h includes y.h.
#     Every elementary cycle is reported, with the files on it. Cycles listed
#     in tests/lint/include-cycles.allow (one per line: the cycle's modules as
#     folder/basename, sorted, joined with spaces; '#' comments) are tolerated,
#     and a line there whose cycle no longer exists fails too: the list only shrinks.
#
# Usage: includes.sh [ROOT]                 check
#        includes.sh [ROOT] --list-cycles   print the current cycles in allow-list form
set -eu
root=${1:-.}
mode=${2:-check}
cd "$root"
allow=tests/lint/include-cycles.allow

files=()
for d in cli agent store proto; do
    [ -d "$d" ] || continue # cli/ may not exist yet
    for f in "$d"/*.c "$d"/*.h; do
        [ -f "$f" ] && files+=("$f")
    done
done
[ ${#files[@]} -gt 0 ] || { echo "includes: no sources under $PWD"; exit 1; }

allowpath=$allow
[ -f "$allow" ] || allowpath=/dev/null
{
    grep -H -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]+"' "${files[@]}" || true
} | awk -v mode="$mode" -v allowfile="$allowpath" -v allowname="$allow" '
function layer_of(path,   i) {
    i = index(path, "/")
    return i ? substr(path, 1, i - 1) : ""
}
function module_of(path,   m) {
    m = path
    sub(/\.[ch]$/, "", m)
    return m
}
# Sort the space-separated words of s; returns them joined with one space.
function sortwords(s,   w, n, i, j, t, out) {
    n = split(s, w, " ")
    for (i = 2; i <= n; i++) {
        t = w[i]
        for (j = i - 1; j >= 1 && w[j] > t; j--)
            w[j + 1] = w[j]
        w[j + 1] = t
    }
    out = ""
    for (i = 1; i <= n; i++)
        out = out (i > 1 ? " " : "") w[i]
    return out
}
function add_word(list, word) {
    return list == "" ? word : list " " word
}
function record(depth,   i, key, chain, why, a, b) {
    key = ""
    chain = ""
    why = ""
    for (i = 0; i <= depth; i++) {
        a = path[i]
        b = (i < depth) ? path[i + 1] : path[0]
        key = add_word(key, a)
        chain = chain a " -> "
        why = why (i ? "; " : "") edgefiles[a SUBSEP b]
    }
    chain = chain path[0]
    key = sortwords(key)
    if (key in found)
        return
    found[key] = 1
    nfound++
    foundkey[nfound] = key
    foundmsg[nfound] = chain " (" why ")"
}
function dfs(v, depth,   succ, n, i, w) {
    path[depth] = v
    onpath[v] = 1
    n = split(adj[v], succ, " ")
    for (i = 1; i <= n; i++) {
        w = succ[i]
        if (w == start)
            record(depth)
        else if (!onpath[w] && w > start)
            dfs(w, depth + 1)
    }
    onpath[v] = 0
}
BEGIN {
    rank["proto"] = 0; rank["store"] = 1; rank["agent"] = 2; rank["cli"] = 3
    bad = 0
    while ((getline line < allowfile) > 0) {
        sub(/#.*/, "", line)
        gsub(/[[:space:]]+/, " ", line)
        sub(/^ /, "", line)
        sub(/ $/, "", line)
        if (line == "")
            continue
        line = sortwords(line)
        if (!(line in allowed)) {
            allowed[line] = 1
            nallow++
            allowkey[nallow] = line
        }
    }
}
{
    c = index($0, ":")
    file = substr($0, 1, c - 1)
    hdr = substr($0, c + 1)
    sub(/^[^"]*"/, "", hdr)
    sub(/".*$/, "", hdr)
    from = layer_of(file)
    if (index(hdr, "/") == 0)
        hdr = from "/" hdr
    to = layer_of(hdr)
    if (!(to in rank) || hdr ~ /\.\./)
        next # not one of ours
    if (rank[to] > rank[from] && mode != "--list-cycles") {
        print "includes: " file ": includes " hdr ": " from "/ may not include " to "/"
        bad = 1
    }
    if (to != from || hdr !~ /\.h$/)
        next
    x = module_of(file)
    y = module_of(hdr)
    if (x == y)
        next
    e = x SUBSEP y
    if ((file SUBSEP hdr) in seen)
        next
    seen[file SUBSEP hdr] = 1
    if (!(e in edgefiles)) {
        edgefiles[e] = file " includes " hdr
        adj[x] = add_word(adj[x], y)
        nodes[x] = 1
    } else {
        edgefiles[e] = edgefiles[e] ", " file " includes " hdr
    }
}
END {
    names = ""
    for (v in nodes) {
        adj[v] = sortwords(adj[v])
        names = add_word(names, v)
    }
    nn = split(sortwords(names), order, " ")
    for (k = 1; k <= nn; k++) {
        start = order[k]
        dfs(start, 0)
    }
    if (mode == "--list-cycles") {
        for (k = 1; k <= nfound; k++)
            print foundkey[k]
        exit 0
    }
    for (k = 1; k <= nfound; k++) {
        if (foundkey[k] in allowed)
            continue
        print "includes: include cycle " foundmsg[k] ": break it (it is not in " allowname ")"
        bad = 1
    }
    for (k = 1; k <= nallow; k++) {
        if (allowkey[k] in found)
            continue
        print "includes: " allowname ": cycle \"" allowkey[k] "\" no longer exists: delete the line"
        bad = 1
    }
    if (!bad)
        print "includes: layers respected; " nfound " include cycle(s), all allowed"
    exit bad
}'
