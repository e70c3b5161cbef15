// Owns `slipway completion bash|zsh`: a completion script generated from the command tree
// itself, so every command, subcommand and option the CLI knows completes, and nothing it
// does not. Each command path (`functions ls`) maps to the words that may follow it.
import type { Command } from "commander";

export type Shell = "bash" | "zsh";

function commandPaths(command: Command, prefix: string[] = [], inherited: string[] = []): { path: string; words: string[] }[] {
  const options = [...inherited, ...command.options.filter((o) => !o.hidden).flatMap((o) => [o.long, o.short]).filter((f): f is string => Boolean(f)), "--help"];
  const globals = prefix.length === 0 ? command.options.filter((o) => o.long !== "--version").map((o) => o.long!) : inherited;
  const children = command.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
  const here = { path: prefix.join(" "), words: [...children.map((c) => c.name()), ...new Set(options)] };
  return [here, ...children.flatMap((child) => commandPaths(child, [...prefix, child.name()], globals))];
}

const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

export function completionScript(program: Command, shell: Shell): string {
  const paths = commandPaths(program);
  const known = paths.map((p) => p.path).join("|");
  const cases = paths.map((p) => `    ${quote(p.path)}) words=${quote(p.words.join(" "))} ;;`).join("\n");
  if (shell === "bash") {
    return `# slipway completion for bash. Load it with: source <(slipway completion bash)
_slipway_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" word words="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "|${known}|" in *"|\${cmd:+\$cmd }\$word|"*) cmd="\${cmd:+\$cmd }\$word" ;; esac
  done
  case "\$cmd" in
${cases}
  esac
  COMPREPLY=($(compgen -W "\$words" -- "\$cur"))
}
complete -o default -F _slipway_complete slipway
`;
  }
  return `#compdef slipway
# slipway completion for zsh. Load it with: source <(slipway completion zsh)
# (or save it as _slipway in a folder of your $fpath)
_slipway() {
  local cmd="" word i
  for ((i = 2; i < CURRENT; i++)); do
    word="\${words[i]}"
    case "|${known}|" in *"|\${cmd:+\$cmd }\$word|"*) cmd="\${cmd:+\$cmd }\$word" ;; esac
  done
  local candidates=""
  case "\$cmd" in
${cases.replace(/\) words=/g, ") candidates=")}
  esac
  compadd -- \${=candidates}
  [[ "\${words[CURRENT]}" != -* ]] && _files
}
if [[ "\${funcstack[1]}" == _slipway ]]; then _slipway "$@"; else compdef _slipway slipway; fi
`;
}
