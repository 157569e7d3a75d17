#!/usr/bin/env bash
# mkman.sh PROGRAM NAME_LINE INCLUDE OUT: the man page of PROGRAM (a built
# binary), made by help2man from its --help and --version, the one source of
# what each option does. A program with commands ("Commands:" in its help)
# gets a COMMANDS section with each command's --help. INCLUDE (help2man's
# include format) adds what --help does not say: files, environment, see
# also. help2man's date follows SOURCE_DATE_EPOCH (reproducible builds).
set -euo pipefail
prog="$1" name_line="$2" include="$3" out="$4"
name="$(basename "$prog")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# help2man reads the synopsis from "Usage:" lines; the programs print
# "usage:". A wrapper under the program's own name (help2man names the page
# after it) capitalises it and nothing else.
cat >"$tmp/$name" <<WRAP
#!/usr/bin/env bash
"$prog" "\$@" | sed 's/^usage:/Usage:/'
exit "\${PIPESTATUS[0]}"
WRAP
chmod +x "$tmp/$name"

# roff-safe preformatted text: backslashes doubled, lines starting with
# . or ' escaped
roff_pre() { sed -e 's/\\/\\\\/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

cp "$include" "$tmp/include.h2m"
commands=$("$prog" --help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit }
                                  on && /^  [a-z]/ { print $1 }')
if [ -n "$commands" ]; then
    {
        echo "[COMMANDS]"
        echo "Each command's own --help:"
        for c in $commands; do
            printf '.SS %s\n.nf\n' "$c"
            "$prog" "$c" --help | roff_pre
            printf '.fi\n'
        done
    } >>"$tmp/include.h2m"
fi
help2man --no-info --name="$name_line" --include="$tmp/include.h2m" --output="$out" "$tmp/$name"
