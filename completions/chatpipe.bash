# bash completion for the chatpipe programs.
#
# Options come from each program's own --help (bash-completion's
# _parse_help), so the completion always agrees with the program; the
# values of options that take a known set or a file are listed here.
# Installed as .../bash-completion/completions/chatpipe with one symlink
# per program, so bash-completion loads it on demand.
#
# ':' is kept inside words (-n :), so "file:/var/spool/chat" and
# "sqlite:chat.db" are one word; __ltrim_colon_completions then hands bash
# only the part after the last colon, which is what it replaces.

# Does option $1 of program $2 take a value?  Its --help says "OPT=VALUE"
# (or "-o, --long=VALUE" for a short option).
_chatpipe_takes_value()
{
	"$2" --help 2>/dev/null | grep -qE -- "(^|[ ,])$1(=|, --[a-z-]+=)"
}

# A queue: file:DIR completes directories (spools); an SQS URL is typed.
_chatpipe_queue()
{
	if [[ $cur == file:* ]]; then
		local IFS=$'\n'
		COMPREPLY=($(compgen -d -P file: -S / -- "${cur#file:}"))
	else
		COMPREPLY=($(compgen -W 'file: https://' -- "$cur"))
	fi
	compopt -o nospace
	__ltrim_colon_completions "$cur"
}

_chatpipe()
{
	local cur prev words cword split
	_init_completion -s -n : || return

	case $prev in
	--log-format)
		COMPREPLY=($(compgen -W 'text json' -- "$cur"))
		return ;;
	--rejects | --*-file | --config | --ca-bundle | --schema-dir)
		_filedir
		return ;;
	--queue-url | --dlq)
		_chatpipe_queue
		return ;;
	--db)
		COMPREPLY=($(compgen -W 'sqlite: mysql://' -- "$cur"))
		compopt -o nospace
		__ltrim_colon_completions "$cur"
		return ;;
	--insert)
		# chat-persist: how rows are sent to MySQL/MariaDB.
		COMPREPLY=($(compgen -W 'auto bulk rows' -- "$cur"))
		return ;;
	--profile)
		local f=${AWS_CONFIG_FILE:-$HOME/.aws/config}
		[[ -r $f ]] && COMPREPLY=($(compgen -W "$(sed -n 's/^\[profile \(.*\)\]$/\1/p; s/^\[\(default\)\]$/\1/p' "$f")" -- "$cur"))
		return ;;
	esac
	$split && return
	# Any other value (a number, a name, a URL, a jq expression) is typed.
	[[ $prev == -* ]] && _chatpipe_takes_value "$prev" "$1" && return

	local prog=${words[0]##*/}
	if [[ $prog == sqs-queue && $cur != -* ]]; then
		# COMMAND [QUEUE]: count the words that are not options or their
		# values.
		local i verb='' nargs=0
		for ((i = 1; i < cword; i++)); do
			case ${words[i]} in
			-*=*) ;;
			-*) _chatpipe_takes_value "${words[i]}" "$1" && ((i++)) ;;
			*) ((nargs++ == 0)) && verb=${words[i]} ;;
			esac
		done
		case $nargs:$verb in
		0:) COMPREPLY=($(compgen -W 'create delete purge url attributes list' -- "$cur")) ;;
		1:create | 1:delete | 1:purge | 1:attributes | 1:stats) _chatpipe_queue ;;
		esac
		return   # url NAME and list PREFIX are typed
	fi

	# sqs-send, sqs-poll and sqs-delete take no arguments: only options.
	if [[ $cur == -* || $prog == sqs-@(send|poll|delete) ]]; then
		# Long names only: a wrapped help line may start with "-vv".
		COMPREPLY=($(compgen -W '$(_parse_help "$1" | grep -- "^--")' -- "$cur"))
		[[ ${COMPREPLY-} == *= ]] && compopt -o nospace
		return
	fi
	_filedir
}
complete -F _chatpipe chat-ask sqs-send sqs-poll sqs-delete sqs-queue \
	chat-persist pusher-notify chatd
