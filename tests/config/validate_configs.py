#!/usr/bin/python3
"""Validates every configs/*.json example against configs/schema.json with the jsonschema package."""
import json, pathlib, sys
import jsonschema

root = pathlib.Path(sys.argv[1])
schema = json.loads((root / "schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
examples = sorted(p for p in root.glob("*.json") if p.name != "schema.json")
if not examples:
    sys.exit("no example configs found in " + str(root))
failed = 0
for path in examples:
    errors = list(validator.iter_errors(json.loads(path.read_text())))
    for e in errors:
        print(f"{path.name}: {'.'.join(map(str, e.path)) or '(root)'}: {e.message}")
    failed += bool(errors)
print(f"{len(examples) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
