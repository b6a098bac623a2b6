#!/usr/bin/python3
"""mkseed-rpm.py OUT: a seed for fuzz_rpm: a small rpmdb.sqlite (512-byte pages) whose
Packages table holds three RPM header blobs in rpm's headerExport layout, one of them large
enough to need overflow pages, so the b-tree, overflow and header code all run."""
import os, sqlite3, struct, sys, tempfile

def header(name, version, big=0):
    # tags: NAME, VERSION, RELEASE, ARCH (STRING=6); SIZE, INSTALLTIME (INT32=4); GROUP (I18N=9)
    strs = [(1000, name), (1001, version), (1002, "1"), (1022, "noarch"), (1016, "Misc" + "x" * big)]
    ints = [(1009, 1234), (1008, 1700000000)]
    idx, data = [], b""
    for tag, s in strs:
        idx.append(struct.pack(">IIII", tag, 9 if tag == 1016 else 6, len(data), 1))
        data += s.encode() + b"\0"
    while len(data) % 4:
        data += b"\0"
    for tag, v in ints:
        idx.append(struct.pack(">IIII", tag, 4, len(data), 1))
        data += struct.pack(">I", v)
    return struct.pack(">II", len(idx), len(data)) + b"".join(idx) + data

out = sys.argv[1]
with tempfile.TemporaryDirectory() as d:
    db = os.path.join(d, "rpmdb.sqlite")
    c = sqlite3.connect(db)
    c.execute("PRAGMA page_size=512")
    c.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    for i, (n, v, big) in enumerate([("hello", "1.2", 0), ("big", "0.1", 1500), ("z", "9", 0)]):
        c.execute("INSERT INTO Packages VALUES (?, ?)", (i + 1, header(n, v, big)))
    c.commit()
    c.close()
    with open(db, "rb") as f, open(out, "wb") as o:
        o.write(f.read())
