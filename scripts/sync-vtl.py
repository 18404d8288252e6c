#!/usr/bin/env python3
"""Copies vtl/request.vtl and vtl/response.vtl into the mapping-template block scalars of
template.yaml, so the file under vtl/ stays the one place the templates are edited.

Usage: scripts/sync-vtl.py [--check]   (--check: exit 1 if template.yaml is out of date)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
# Which file feeds the block scalar under each mapping-template key, by section: the request
# templates (one per content type API Gateway selects on) and the response templates.
REQUEST_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded; charset=UTF-8",
    # What a Studio flow's Make HTTP Request widget declares (docs/studio.md).
    "application/x-www-form-urlencoded;charset=utf-8",
    # JSON bodies (Studio's Application/JSON, other Twilio products): signed with bodySHA256.
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF-8",
    "application/json;charset=utf-8",
]
SOURCES = {
    "requestTemplates": {t: "vtl/request.vtl" for t in REQUEST_TYPES},
    "responseTemplates": {"application/json": "vtl/response.vtl"},
}
KEY = re.compile(r"^(?P<indent> *)(?P<key>[^:#][^:]*(?:; ?charset=[^:]*)?): \|\n$")
SECTION = re.compile(r"^ *(?P<section>requestTemplates|responseTemplates):\s*$")


def sync(text: str) -> str:
    lines = text.splitlines(keepends=True)
    out = []
    i = 0
    section = None
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        s = SECTION.match(line)
        if s:
            section = SOURCES[s.group("section")]
            continue
        m = KEY.match(line)
        if not m or section is None or m.group("key").strip() not in section:
            continue
        body_indent = " " * (len(m.group("indent")) + 2)
        # Skip the old block: every following line that is blank or indented deeper than the key.
        while i < len(lines) and (lines[i].strip() == "" or lines[i].startswith(body_indent)):
            i += 1
        source = (ROOT / section[m.group("key").strip()]).read_text(encoding="utf-8")
        for src_line in source.rstrip("\n").split("\n"):
            out.append(body_indent + src_line + "\n" if src_line else "\n")
        if i < len(lines) and out[-1].strip() != "" and lines[i - 1].strip() == "":
            out.append("\n")
    return "".join(out)


def main() -> int:
    current = TEMPLATE.read_text(encoding="utf-8")
    updated = sync(current)
    if "--check" in sys.argv[1:]:
        if updated != current:
            print("template.yaml mapping templates differ from vtl/; run scripts/sync-vtl.py")
            return 1
        return 0
    if updated != current:
        TEMPLATE.write_text(updated, encoding="utf-8")
        print("template.yaml updated from vtl/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
