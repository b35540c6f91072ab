"""``fashionseg vocab`` and ``fashionseg mapping``: print a class vocabulary or a label mapping."""

from __future__ import annotations

VOCABULARIES = ("fashionseg11", "base5", "imaterialist46", "ccp59")


def cmd_vocab(args) -> int:
    from fashionseg.core.vocabulary import load_vocabulary

    for c in load_vocabulary(args.name).categories:
        print(f"{c.id:>3}  {c.name}" + (f"  ({c.supercategory})" if c.supercategory else ""))
    return 0


def cmd_mapping(args) -> int:
    from fashionseg.core.mapping import load_mapping

    mapping = load_mapping(args.name)
    width = max(len(k) for k in mapping.rules) if mapping.rules else 0
    for label, classes in mapping.rules.items():
        print(f"{label:<{width}}  -> {' + '.join(classes) if classes else '(dropped)'}")
    return 0


def register(commands) -> None:
    vocab = commands.add_parser("vocab", help="print a class vocabulary")
    vocab.add_argument("name", nargs="?", default="fashionseg11", choices=VOCABULARIES)
    vocab.set_defaults(func=cmd_vocab)
    mapping = commands.add_parser("mapping", help="print a label mapping")
    mapping.add_argument("name", help="ccp, imaterialist, client, or a YAML/JSON file")
    mapping.set_defaults(func=cmd_mapping)
