# bash completion for the chatpipe programs.
#
# Options come from each program's own --help (bash-completion's
# _parse_help), so the completion always agrees with the program; the
# values of options that take a known set or a file are listed here.
# Installed as .../bash-completion/completions/chatpipe with one symlink
# per program, so bash-completion loads it on demand.

_chatpipe()
{
	local cur prev words cword split
	_init_completion -s || return

	case $prev in
	--log-format)
		COMPREPLY=($(compgen -W 'text json' -- "$cur"))
		return ;;
	--rejects | --*-file | --config | --ca-bundle | --schema-dir)
		_filedir
		return ;;
	--queue-url)
		# A spool directory, or a URL the user types.
		if [[ $cur == file:* ]]; then
			local dir=${cur#file:}
			COMPREPLY=($(compgen -d -P file: -- "$dir"))
			compopt -o nospace
		else
			COMPREPLY=($(compgen -W 'file: https://' -- "$cur"))
			compopt -o nospace
		fi
		return ;;
	--db)
		COMPREPLY=($(compgen -W 'sqlite: mysql://' -- "$cur"))
		compopt -o nospace
		return ;;
	--profile)
		local f=${AWS_CONFIG_FILE:-$HOME/.aws/config}
		[[ -r $f ]] && COMPREPLY=($(compgen -W "$(sed -n 's/^\[profile \(.*\)\]$/\1/p; s/^\[\(default\)\]$/\1/p' "$f")" -- "$cur"))
		return ;;
	esac
	$split && return

	case ${words[0]##*/} in
	sqs-queue)
		if ((cword == 1)) || [[ $cur != -* && ${words[1]} == -* && $cword -le 2 ]]; then
			COMPREPLY=($(compgen -W 'create delete purge url attributes list' -- "$cur"))
			return
		fi ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '$(_parse_help "$1")' -- "$cur"))
		[[ ${COMPREPLY-} == *= ]] && compopt -o nospace
		return
	fi
	_filedir
}
complete -F _chatpipe chat-ask sqs-send sqs-poll sqs-delete sqs-queue \
	chat-persist pusher-notify chatd
