#!/bin/sh
# dist/gen-man.sh PROGRAM NAME - a man page (roff, on stdout) made from the
# program's own --help: nothing is written by hand, so the page says what
# the program says.  For the agent, each subcommand's --help becomes a
# section of its own (the subcommands are read from `agent --help`).
#   sh dist/gen-man.sh bin/agent idunno-agent > idunno-agent.1
set -eu
prog=$1 name=$2
help=$("$prog" --help) || { echo "gen-man.sh: $prog --help failed" >&2; exit 1; }
version=$("$prog" --version 2>/dev/null | head -n 1) || version=""
case $version in *IDunno*) ;; *) version="IDunno" ;; esac

# roff-safe verbatim text: backslashes, and lines starting with . or '
verbatim() {
  printf '.nf\n'
  sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
  printf '.fi\n'
}

upper=$(printf '%s' "$name" | tr 'a-z' 'A-Z')
printf '.TH %s 1 "" "%s" "IDunno manual"\n' "$upper" "$version"
printf '.SH NAME\n%s \\- the %s of IDunno, a fault-tolerant inference cluster\n' "$name" "$(basename "$prog")"
printf '.SH DESCRIPTION\nWhat\n.B "%s \\-\\-help"\nprints:\n' "$(basename "$prog")"
printf '%s\n' "$help" | verbatim

# The agent's subcommands: the lines of its usage under "subcommands:",
# their leading lower-case words (a group and its verb: "job launch").
if [ "$(basename "$prog")" = agent ]; then
  printf '.SH SUBCOMMANDS\n'
  printf '%s\n' "$help" | awk '/^subcommands:/ { on = 1; next } on && /^$/ { exit }
    on { s = ""; for (i = 1; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++) s = s (s ? " " : "") $i; print s }' |
    while read -r sub; do
      printf '.SS "agent %s"\n' "$sub"
      # shellcheck disable=SC2086 # a group's verb is its own word
      "$prog" $sub --help | verbatim
    done
fi
printf '.SH SEE ALSO\nidunno-agent(1), idunno-engine(1), idunno-exporter(1), idunno-qgen(1);\n'
printf 'the deployment guide, deploy.md, installed with the other documents.\n'
