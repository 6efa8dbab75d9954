#!/usr/bin/env bats
# What a new user meets first, in every program (docs/cli.md): usage errors in one line with exit
# status 2 and a "did you mean" for a misspelling, failures with 1, --version, an Examples
# section in every command's --help, global flags before or after the command, bash and zsh
# completion, and `cmake --install` of programs, completions and man pages.

PROGRAMS="mosb trust mosctl mos-registry machine stacker"

setup() {
  export HOME="$BATS_TEST_TMPDIR/home"
  unset XDG_DATA_HOME
  mkdir -p "$HOME"
}

# The commands a --help lists under "Commands:", one per line.
help_commands() {
  awk '/^Commands:/ { on = 1; next } on && /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }'
}

# Every command path of PROGRAM ("mosb", "mosb oci", "mosb oci copy", ...), from the "Commands:"
# sections of the --help texts, one per line.
command_paths() {
  local path=$1 sub
  echo "$path"
  # shellcheck disable=SC2086
  for sub in $("$MOS_BIN/${path%% *}" ${path#"${path%% *}"} --help 2>/dev/null | help_commands); do
    command_paths "$path $sub"
  done
}

# Runs a command path with arguments: run_path "mosb oci copy" --help
run_path() {
  local path=$1
  shift
  # shellcheck disable=SC2086
  if [ "$path" = "${path%% *}" ]; then
    run "$MOS_BIN/$path" "$@"
  else
    run "$MOS_BIN/${path%% *}" ${path#* } "$@"
  fi
}

@test "a misspelt command: exit 2, one line PROG: error: with did you mean, in every program" {
  run "$MOS_BIN/mosb" oci cpy
  [ "$status" -eq 2 ]
  [ "$output" = "mosb: error: unknown command 'cpy' for 'mosb oci'; did you mean 'copy'?" ]
  run "$MOS_BIN/mosb" manfest publish --project snakeoil:default manifest.yaml
  [ "$status" -eq 2 ]
  [ "$output" = "mosb: error: unknown command 'manfest' for 'mosb'; did you mean 'manifest'?" ]
  run "$MOS_BIN/trust" keyset ad snakeoil
  [ "$status" -eq 2 ]
  [ "$output" = "trust: error: unknown command 'ad' for 'trust keyset'; did you mean 'add'?" ]
  run "$MOS_BIN/mosctl" instal --root "$BATS_TEST_TMPDIR/root" 127.0.0.1:5000/machine/install:1.0.0
  [ "$status" -eq 2 ]
  [ "$output" = "mosctl: error: unknown command 'instal' for 'mosctl'; did you mean 'install'?" ]
  run "$MOS_BIN/mos-registry" serv zot-config.json
  [ "$status" -eq 2 ]
  [ "$output" = "mos-registry: error: unknown command 'serv' for 'mos-registry'; did you mean 'serve'?" ]
}

@test "a misspelt option: exit 2, one line with the option it was near, in every program" {
  run "$MOS_BIN/mosb" oci copy --parallell 3 oci:a:1 oci:b:1
  [ "$status" -eq 2 ]
  [ "$output" = "mosb: error: unknown option '--parallell' for 'mosb oci copy'; did you mean '--parallel'?" ]
  run "$MOS_BIN/trust" verify --signatur install.json.signed install.json
  [ "$status" -eq 2 ]
  [ "$output" = "trust: error: unknown option '--signatur' for 'trust verify'; did you mean '--signature'?" ]
  run "$MOS_BIN/mosctl" status --rot /tmp/root
  [ "$status" -eq 2 ]
  [ "$output" = "mosctl: error: unknown option '--rot' for 'mosctl status'; did you mean '--root'?" ]
  run "$MOS_BIN/mos-registry" serve --prot 5000
  [ "$status" -eq 2 ]
  [ "$output" = "mos-registry: error: unknown option '--prot' for 'mos-registry serve'; did you mean '--port'?" ]
  # The suggestion comes from the names valid where the word stands: --raw is not one of copy's.
  run "$MOS_BIN/mosb" oci copy --rw oci:a:1 oci:b:1
  [ "$status" -eq 2 ]
  [ "$output" = "mosb: error: unknown option '--rw' for 'mosb oci copy' (see 'mosb oci copy --help')" ]
  run "$MOS_BIN/mosb" oci inspect --rw oci:a:1
  [ "$output" = "mosb: error: unknown option '--rw' for 'mosb oci inspect'; did you mean '--raw'?" ]
}

@test "other usage errors: exit 2 and one line naming the command's help" {
  run "$MOS_BIN/mosb" oci zzzzzz
  [ "$status" -eq 2 ]
  [ "$output" = "mosb: error: unknown command 'zzzzzz' for 'mosb oci' (commands: copy, inspect, referrers)" ]
  run "$MOS_BIN/mosb" oci copy oci:a:1
  [ "$status" -eq 2 ]
  [ "$output" = "mosb: error: DST is required (see 'mosb oci copy --help')" ]
  run "$MOS_BIN/mosb" oci copy oci:a:1 oci:b:1 extra
  [ "$status" -eq 2 ]
  [ "$output" = "mosb: error: unexpected argument 'extra' for 'mosb oci copy' (see 'mosb oci copy --help')" ]
  run "$MOS_BIN/mosb" oci copy -j 99 oci:a:1 oci:b:1
  [ "$status" -eq 2 ]
  [[ "$output" == "mosb: error: --parallel: "*"(see 'mosb oci copy --help')" ]]
  [ "${#lines[@]}" -eq 1 ]
  # An option of a command given before it: said where it belongs.
  run "$MOS_BIN/mosb" --parallel 3 oci copy oci:a:1 oci:b:1
  [ "$status" -eq 2 ]
  [ "$output" = "mosb: error: option '--parallel' belongs after the command: mosb oci copy --parallel ..." ]
  run "$MOS_BIN/trust" completion fish
  [ "$status" -eq 2 ]
  [[ "$output" == "trust: error: SHELL: "*"fish"* ]]
}

@test "a missing command: exit 2, the error line and the group's help on stderr only" {
  for p in "mosb" "mosb oci" "trust keyset" "trust sudi" "mosctl" "mos-registry"; do
    run_path "$p"
    [ "$status" -eq 2 ] || { echo "$p: $status"; false; }
    [[ "${lines[0]}" == "${p%% *}: error: missing command for '$p' (one of: "*")" ]]
    [[ "$output" == *"Usage: $p [OPTIONS] COMMAND"* && "$output" == *"Commands:"* ]]
    # all of it on stderr
    # shellcheck disable=SC2086
    [ -z "$("$MOS_BIN/${p%% *}" ${p#"${p%% *}"} 2>/dev/null)" ]
  done
  run "$MOS_BIN/mosb" oci
  [[ "$output" == *"  copy "*"  inspect "*"  referrers "* ]]
}

@test "a failure exits 1 with one error line, a success 0" {
  run "$MOS_BIN/trust" keyset show nosuch
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "trust: error: keyset nosuch "* ]]
  run "$MOS_BIN/mosb" oci inspect "oci:$BATS_TEST_TMPDIR/none:latest"
  [ "$status" -eq 1 ]
  [[ "$output" == "mosb: error: "*"does not exist"* ]]
  run "$MOS_BIN/mosctl" -q install -r "$BATS_TEST_TMPDIR/root" "oci:$BATS_TEST_TMPDIR/none:1.0"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "mosctl: error: "* ]]
  run "$MOS_BIN/mos-registry" serve
  [ "$status" -eq 1 ]
  [ "$output" = "mos-registry: error: no root directory: give a config file or --root DIR" ]
  run "$MOS_BIN/trust" keyset list
  [ "$status" -eq 0 ]
}

@test "--version prints PROG VERSION, the project's version, before or after a command" {
  local version
  version=$(sed -n 's/^project(mos VERSION \([0-9.]*\).*/\1/p' "$MOS_SOURCE_DIR/CMakeLists.txt")
  [ -n "$version" ]
  for p in $PROGRAMS; do
    run "$MOS_BIN/$p" --version
    [ "$status" -eq 0 ]
    [ "$output" = "$p $version" ]
  done
  run "$MOS_BIN/mosb" oci copy --version
  [ "$status" -eq 0 ]
  [ "$output" = "mosb $version" ]
}

@test "every command's --help: usage with named arguments, global flags, Examples" {
  local p path count=0
  for p in $PROGRAMS; do
    while read -r path; do
      count=$((count + 1))
      run_path "$path" --help
      [ "$status" -eq 0 ] || { echo "$path --help: $status"; false; }
      [[ "$output" == *"Usage: $path"* ]] || { echo "$path: no usage line"; false; }
      [[ "$output" == *$'\nExamples:\n  '* ]] || { echo "$path --help has no Examples"; false; }
      [[ "$output" == *"--debug"* && "$output" == *"-q, --quiet"* && "$output" == *"-h, --help"* ]] ||
        { echo "$path --help does not list the global flags"; false; }
      if [ "$p" = mosctl ]; then
        [[ "$output" == *"-r, --root DIR"*"--rfs"* ]] || { echo "$path: no --root"; false; }
      fi
      # No CLI11 placeholders: arguments have names (REF, FILE, DIR, KEYSET, ...).
      if grep -Ew 'TEXT|INT|UINT|FLOAT|REQUIRED|SUBCOMMAND' <<<"$output"; then
        echo "$path --help shows a CLI11 placeholder"
        false
      fi
      # Examples run the program itself.
      grep -A1 '^  # ' <<<"$output" | grep -q "^  .*$p " || { echo "$path: examples do not run $p"; false; }
    done < <(command_paths "$p")
  done
  [ "$count" -ge 30 ]
  run "$MOS_BIN/mosb" --help
  [[ "$output" == *"Exit status: 0 success, 1 failure, 2 usage error"* ]]
  run "$MOS_BIN/mosb" manifest publish --help
  [[ "$output" == *"Usage: mosb manifest publish [OPTIONS] FILE"* ]]
  [[ "$output" == *"--project KEYSET:PROJECT"*"(required)"* ]]
  [[ "$output" == *"mosb manifest publish --project snakeoil:default --repo 127.0.0.1:5000 --name machine/install:1.0.0 manifest.yaml"* ]]
}

@test "global flags and mosctl's --root go before or after the command" {
  # -q silences the info lines, wherever it stands; a usage error would exit 2.
  run "$MOS_BIN/trust" -q keyset add --no-bootkit before
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  run "$MOS_BIN/trust" keyset add --no-bootkit after --quiet
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  run "$MOS_BIN/trust" keyset add --no-bootkit loud
  [[ "$output" == "Created keyset loud in "* ]]
  local R=$BATS_TEST_TMPDIR/root src=oci:$BATS_TEST_TMPDIR/none:1.0
  run "$MOS_BIN/mosctl" install -r "$R" "$src"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 2 ]
  [ "${lines[0]}" = "mosctl: installing into root $R" ]
  run "$MOS_BIN/mosctl" --quiet install -r "$R" "$src"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  run "$MOS_BIN/mosctl" install -r "$R" "$src" -q
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  # --root (-r, --rfs) before the command, after it, or after its argument.
  for args in "-r $R status" "--root $R status" "--rfs $R status" "status -r $R" \
    "status --rfs $R --debug" "--debug status --root $R"; do
    # shellcheck disable=SC2086
    run "$MOS_BIN/mosctl" $args
    [ "$status" -eq 0 ] || { echo "mosctl $args: $status $output"; false; }
    [ "$output" = "no system is installed in $R" ]
  done
  run "$MOS_BIN/mosctl" --debug -r "$R" install --quiet "$src"
  [ "$status" -eq 1 ]
  [[ "$output" == *"no manifest CA: $R/factory/secure/manifestCA.pem"* ]]
  for p in mosb mos-registry; do
    run "$MOS_BIN/$p" --debug completion bash
    [ "$status" -eq 0 ]
    run "$MOS_BIN/$p" completion bash -q --debug
    [ "$status" -eq 0 ]
  done
}

# complete WORD...: what the bash completion function of WORD[0] offers for the last word.
complete_words() {
  local prog=$1
  bash -c "source <('$MOS_BIN/$prog' completion bash) || exit 9
    COMP_WORDS=(\"\$@\"); COMP_CWORD=\$((\${#COMP_WORDS[@]} - 1))
    _$prog || exit 8
    echo \"\${COMPREPLY[*]}\"" complete "$@"
}

@test "bash completion: commands, options and values from the command definitions" {
  [ "$(complete_words mosb oci c)" = "copy" ]
  [ "$(complete_words mosb "")" = "$("$MOS_BIN/mosb" --help | help_commands | xargs)" ]
  [[ "$(complete_words mosb "")" == "manifest oci image "*"completion" ]]
  [ "$(complete_words mosb --debug oci copy --par)" = "--parallel" ]
  # an option's value is skipped: --referrers is still one of copy's
  [ "$(complete_words mosb oci copy -j 4 --ref)" = "--referrers" ]
  [ "$(complete_words mosb oci copy -j "")" = "" ]
  [ "$(complete_words mosb completion "")" = "bash zsh" ]
  [ "$(complete_words trust keyset add --algorithm ec)" = "ecdsa-p256" ]
  [ "$(complete_words trust keyset a)" = "add" ]
  [ "$(complete_words mosctl ins)" = "install" ]
  [ "$(complete_words mosctl -r /tmp/root sta)" = "status" ]
  [ "$(complete_words mosctl status --r)" = "--root --rfs" ]
  [ "$(complete_words mos-registry s)" = "serve" ]
  # files for a file option
  mkdir -p "$BATS_TEST_TMPDIR/files" && touch "$BATS_TEST_TMPDIR/files/ca.pem"
  [ "$(complete_words mosb oci copy --cacert "$BATS_TEST_TMPDIR/files/c")" = "$BATS_TEST_TMPDIR/files/ca.pem" ]
  # the script the build installs is the one the program prints
  for p in $PROGRAMS; do
    diff <("$MOS_BIN/$p" completion bash) "$MOS_BIN/../share/bash-completion/completions/$p"
  done
}

@test "zsh completion: the same tree, through zsh's completion functions" {
  command -v zsh >/dev/null || skip "zsh is not installed (scripts/deps.txt lists it)"
  local p
  for p in $PROGRAMS; do
    zsh -n "$MOS_BIN/../share/zsh/site-functions/_$p"
    diff <("$MOS_BIN/$p" completion zsh) "$MOS_BIN/../share/zsh/site-functions/_$p"
  done
  # _describe, compadd and _files stand in for zsh's: they print what they were given.
  cat >"$BATS_TEST_TMPDIR/try.zsh" <<'EOF'
_describe() { local name=${@[-1]}; local -a items; items=("${(@P)name}"); print -r -- ${items%%:*}; }
compadd() { local -a items; items=("${(@P)2}"); print -r -- $items; }
_files() { print -r -- "files $*"; }
_message() { print -r -- "message"; }
source "$1"
shift
words=("$@")
CURRENT=${#words}
_${words[1]}
EOF
  run zsh -f "$BATS_TEST_TMPDIR/try.zsh" "$MOS_BIN/../share/zsh/site-functions/_mosb" mosb oci ''
  [ "$output" = "copy inspect referrers" ]
  run zsh -f "$BATS_TEST_TMPDIR/try.zsh" "$MOS_BIN/../share/zsh/site-functions/_mosb" mosb -q image mount --scratch ''
  [ "$output" = "files -/" ]
  run zsh -f "$BATS_TEST_TMPDIR/try.zsh" "$MOS_BIN/../share/zsh/site-functions/_trust" trust keyset add --algorithm ''
  [ "$output" = "rsa2048 rsa4096 ecdsa-p256" ]
  run zsh -f "$BATS_TEST_TMPDIR/try.zsh" "$MOS_BIN/../share/zsh/site-functions/_mos-registry" mos-registry ''
  [[ "$output" == "serve completion"* ]]
}

@test "cmake --install: programs, completions and man pages; man reads them" {
  local P=$BATS_TEST_TMPDIR/p p path page
  run cmake --install "$MOS_BIN/.." --prefix "$P"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  # The initramfs's mosctl, mosctl boot's lean program, the container monitor and its reaper are
  # no user's commands: beside the programs, not on PATH, no pages.
  for p in mosctl-initrd mosctl-boot mos-lxc-monitor mos-container-reaper; do
    [ -x "$P/libexec/mos/$p" ] && [ ! -e "$P/bin/$p" ]
  done
  for p in $PROGRAMS; do
    [ -x "$P/bin/$p" ]
    [ "$("$P/bin/$p" --version)" = "$("$MOS_BIN/$p" --version)" ]
    [ -s "$P/share/bash-completion/completions/$p" ]
    [ -s "$P/share/zsh/site-functions/_$p" ]
    # one page per command, and no page for a command that is not there
    diff <(command_paths "$p" | tr ' ' '-' | sed 's/$/.1/' | sort) \
      <(cd "$P/share/man/man1" && ls | grep -E "^$p(-.*)?\.1$" | sort)
  done
  for page in "$P"/share/man/man1/*.1; do
    head -3 "$page" | grep -q '^\.TH "[A-Z0-9-]*" 1 ' || { echo "$page: no .TH"; false; }
    # groff reads every page without a warning
    run groff -man -Tutf8 -ww -z "$page"
    [ "$status" -eq 0 ] && [ -z "$output" ] || { echo "$page: $output"; false; }
  done
  run env MANPAGER=cat MANWIDTH=120 man -l "$P/share/man/man1/mosb-manifest-publish.1"
  [ "$status" -eq 0 ]
  [[ "$output" == *"NAME"*"mosb-manifest-publish - Compile manifest.yaml"* ]]
  [[ "$output" == *"SYNOPSIS"*"mosb manifest publish [OPTIONS] FILE"* ]]
  [[ "$output" == *"--project KEYSET:PROJECT"* ]]
  [[ "$output" == *"EXAMPLES"*"mosb manifest publish --project snakeoil:default --repo 127.0.0.1:5000"* ]]
  [[ "$output" == *"EXIT STATUS"*"Usage error"* ]]
  run env MANPAGER=cat MANWIDTH=120 man -l "$P/share/man/man1/mosctl.1"
  [[ "$output" == *"COMMANDS"*"mosctl install [OPTIONS] REF"*"mosctl-install(1)"* ]]
  [[ "$output" == *"-r, --root DIR"* ]]
}
