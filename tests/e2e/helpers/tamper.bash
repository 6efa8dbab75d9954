# Tampering with a file in place, for the tests that check it is refused.

# flip_byte FILE OFFSET: the byte at OFFSET inverted, so that a tampering test always changes
# the file (writing a fixed byte changes nothing where the file already holds it).
flip_byte() {
  local old
  old=$(dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
  [ -n "$old" ] || return 1
  # shellcheck disable=SC2059 # the format is the byte's octal escape
  printf "\\$(printf '%03o' $((255 - old)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
