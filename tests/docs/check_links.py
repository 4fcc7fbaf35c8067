#!/usr/bin/env python3
"""Every relative link in README.md, docs/*.md, jobscripts/README.md and benchmarks/*.md points
to a file or directory that exists (anchors and web addresses are not checked)."""
import glob, os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pages = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md"))) \
    + sorted(glob.glob(os.path.join(root, "jobscripts", "*.md"))) + sorted(glob.glob(os.path.join(root, "benchmarks", "*.md")))
link = re.compile(r"\]\(([^)\s]+)\)")
bad = 0
for page in pages:
    if not os.path.exists(page):
        continue
    text = open(page, encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # not inside code blocks
    for target in link.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#")[0]
        if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(page), path))):
            print(f"{os.path.relpath(page, root)}: broken link ({target})")
            bad += 1
print(f"{len(pages)} pages checked, {bad} broken link(s)")
sys.exit(1 if bad else 0)
