#!/usr/bin/python3
# tests/bench/put-section.py DOC NAME HEADING TABLE_FILE: put the bench table in TABLE_FILE
# into DOC between the <!-- BENCH:NAME:begin --> and <!-- BENCH:NAME:end --> markers, or at
# the end under HEADING (none when HEADING is empty) with the markers when they are not there
# yet; written to a temporary name and renamed, so that an interrupted run leaves DOC as it
# was. Every bench script writes its section of docs/benchmarks.md through this one.
import os
import sys

doc, name, heading, table_file = sys.argv[1:]
table = open(table_file).read().rstrip("\n")
begin, end = "<!-- BENCH:%s:begin -->" % name, "<!-- BENCH:%s:end -->" % name
text = open(doc).read() if os.path.exists(doc) else ""
if begin in text and end in text:
    text = text[:text.index(begin) + len(begin)] + "\n" + table + "\n" + text[text.index(end):]
else:
    text += "\n" + (heading + "\n\n" if heading else "") + begin + "\n" + table + "\n" + end + "\n"
open(doc + ".tmp", "w").write(text)
os.replace(doc + ".tmp", doc)
