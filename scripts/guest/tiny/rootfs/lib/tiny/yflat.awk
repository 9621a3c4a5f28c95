# yflat.awk - flattens the block-style YAML found in NoCloud seeds into one "path=value" line per
# scalar, so that the guest's /init can read seeds with busybox awk and sed alone (there is no
# YAML parser in the initramfs). Mapping keys are joined with ".", sequence items get their index:
#
#   local-hostname: vm0            local-hostname=vm0
#   public-keys:                   public-keys.0=ssh-ed25519 AAAA... me@host
#     - ssh-ed25519 AAAA... me@host
#   ethernets:                     ethernets.eth0.addresses.0=10.0.0.2/24
#     eth0:                        ethernets.eth0.gateway4=10.0.0.1
#       addresses: [10.0.0.2/24]
#       gateway4: 10.0.0.1
#
# Supported: block mappings and sequences (items may sit at their key's indentation, items may be
# mappings or sequences: "- - a"), flow sequences of scalars ([a, b]), single- and double-quoted scalars, comments.
# Not supported (silently misread or dropped): flow mappings ({a: b}), multi-line scalars (| >),
# anchors and aliases, tags, keys containing ": ", several documents in one file, JSON files.
#
# Parser state: a stack of open containers. ind[k] is the column that a line must exceed to
# belong to container k (sequence items may also sit at a key's own column), path[k] its path.

function trim(s) {
  gsub(/^[ \t]+|[ \t]+$/, "", s)
  return s
}

# A scalar without its trailing comment and its quotes.
function scalar(v) {
  v = trim(v)
  # Quoted: the text between the quotes (escapes inside quotes are not decoded).
  if (match(v, /^"[^"]*"/) || match(v, /^'[^']*'/)) return substr(v, 2, RLENGTH - 2)
  sub(/[ \t]+#.*$/, "", v)
  return v
}

function join(a, b) {
  return a == "" ? b : a "." b
}

function emit(p, v,   n, i, items, x) {
  v = trim(v)
  if (v ~ /^\[.*\]$/) {
    n = split(substr(v, 2, length(v) - 2), items, ",")
    for (i = 1; i <= n; i++) {
      x = scalar(items[i])
      if (x != "") print join(p, i - 1) "=" x
    }
    return
  }
  v = scalar(v)
  if (v != "") print p "=" v
}

function push(col, p) {
  n++
  ind[n] = col
  path[n] = p
  count[p] = 0
}

# "key: value" or "key:" starting at column col.
function key_line(s, col,   k, v, i) {
  while (n > 0 && ind[n] >= col) n--
  i = index(s, ":")
  k = trim(substr(s, 1, i - 1))
  if (k ~ /^".*"$/ || k ~ /^'.*'$/) k = substr(k, 2, length(k) - 2)
  v = trim(substr(s, i + 1))
  if (v == "" || v ~ /^#/) push(col, join(path[n], k))
  else emit(join(path[n], k), v)
}

# "- rest" with the dash at column col.
function item_line(s, col,   rest, c2, p) {
  while (n > 0 && ind[n] > col) n--
  rest = substr(s, 2)
  match(rest, /^[ \t]*/)
  c2 = col + 1 + RLENGTH
  rest = trim(rest)
  p = join(path[n], count[path[n]]++)
  if (rest ~ KEY) {
    push(c2 - 1, p)
    key_line(rest, c2)
  } else if (rest ~ /^-([ \t]|$)/) {
    # "- - x": an item that is itself a sequence (cloud-config mounts), its items at c2.
    push(c2 - 1, p)
    item_line(rest, c2)
  } else if (rest == "" || rest ~ /^#/) {
    push(col, p)
  } else {
    emit(p, rest)
  }
}

BEGIN {
  n = 0
  path[0] = ""
  KEY = "^(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_][A-Za-z0-9_./-]*)[ \t]*:([ \t]|$)"
}

{
  sub(/\r$/, "")
  if ($0 ~ /^[ \t]*(#.*)?$/ || $0 ~ /^(---|\.\.\.)([ \t]|$)/) next
  match($0, /^ */)
  col = RLENGTH
  s = substr($0, col + 1)
  if (s ~ /^-([ \t]|$)/) item_line(s, col)
  else if (s ~ KEY) key_line(s, col)
  # Anything else (continuation lines of multi-line scalars) is not supported and dropped.
}
