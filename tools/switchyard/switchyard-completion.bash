# bash completion for switchyard, installed as share/bash-completion/completions/switchyard. Commands and each
# command's flags are read from the binary's own --help, so they never fall out of step with it.
_switchyard_commands() {
  "$1" --help 2>/dev/null | sed -n '/^Subcommands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'
}

_switchyard_flags() {
  "$1" "$2" --help 2>/dev/null | grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z0-9-]*' | tr -d ' ,' | sort -u
}

_switchyard() {
  local program=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local command="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --log-level) ((i++)) ;;
      -*) ;;
      *) command=${COMP_WORDS[i]}; break ;;
    esac
  done
  COMPREPLY=()
  case $prev in
    -m | --model | --config | -o | --output | --plugin-path)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    --format) mapfile -t COMPREPLY < <(compgen -W "text json" -- "$cur"); return ;;
    --log-level) mapfile -t COMPREPLY < <(compgen -W "trace debug info warn error off" -- "$cur"); return ;;
  esac
  if [[ -z $command ]]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "--help --version -V --log-level" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(_switchyard_commands "$program")" -- "$cur")
    fi
  elif [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_switchyard_flags "$program" "$command") --log-level" -- "$cur")
  elif [[ $command == help ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_switchyard_commands "$program")" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}
complete -o filenames -F _switchyard switchyard
