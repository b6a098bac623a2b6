#!/usr/bin/env python3
# Reference matcher for tests/unit/t_artifacts.c, written independently of src/artifacts.c:
# plaso-style expansion (each user's home put in, `**N` unrolled into 1..N '*' segments),
# then Python's fnmatch per segment. Reads "f PATH" / "d PATH" lines, prints PATH<TAB>names.
#   python3 oracle.py --user root:/root --user alice:/home/alice DIR... < paths
import yaml, glob, os, sys, fnmatch
def load(dirs):
    defs = {}
    for d in dirs:
        files = sorted(glob.glob(d + '/*.yaml')) if os.path.isdir(d) else [d]
        for f in files:
            for doc in yaml.safe_load_all(open(f)):
                if doc: defs[doc['name']] = doc
    return defs
def linux_sources(doc):
    dos = doc.get('supported_os') or None
    for s in doc['sources']:
        sos = s.get('supported_os') or dos
        if sos is None or 'Linux' in sos: yield s
def expand(path, users):
    out = []
    segs = path.split('/')
    if segs[0] == '%%users.homedir%%':
        homes = set()
        for name, home in users:
            if not home.startswith('/'): continue
            h = [x.replace('[', '[[]').replace('*', '[*]').replace('?', '[?]')
                 for x in home.split('/') if x]
            homes.add(tuple(h))
        bases = [list(h) for h in homes]
        rest = segs[1:]
    else:
        bases = [[]]; rest = segs
    rest = [x for x in rest if x]
    for b in bases:
        full = b + rest
        star = [i for i, x in enumerate(full) if x.startswith('**')]
        if not star: out.append(full); continue
        i = star[0]; n = int(full[i][2:] or 10)
        for k in range(1, n + 1):
            out.append(full[:i] + ['*'] * k + full[i+1:])
    return out
def compile_all(defs, users):
    pats = []  # (name, type, segs)
    parents = {}
    for name, doc in defs.items():
        for s in linux_sources(doc):
            if s['type'] in ('FILE', 'PATH', 'DIRECTORY'):
                for p in s['attributes']['paths']:
                    for e in expand(p, users):
                        # home segments are literal; escape by marking with a tuple
                        pats.append((name, s['type'], e))
            elif s['type'] == 'ARTIFACT_GROUP':
                for m in s['attributes']['names']:
                    parents.setdefault(m, set()).add(name)
    return pats, parents
def segmatch(pat, segs):
    return len(pat) == len(segs) and all(fnmatch.fnmatchcase(s, p) for p, s in zip(pat, segs))
def match(pats, parents, path, is_dir):
    segs = [x for x in path.split('/') if x]
    hit = set()
    for name, t, p in pats:
        if (t != 'FILE' or not is_dir) and segmatch(p, segs): hit.add(name)
        elif t == 'DIRECTORY' and segs and segmatch(p, segs[:-1]): hit.add(name)
    todo = list(hit)
    while todo:
        n = todo.pop()
        for g in parents.get(n, ()):
            if g not in hit: hit.add(g); todo.append(g)
    return sorted(hit)
if __name__ == '__main__':
    args = sys.argv[1:]
    users, dirs = [], []
    while args:
        a = args.pop(0)
        if a == '--user':
            users.append(tuple(args.pop(0).split(':', 1)))
        else:
            dirs.append(a)
    defs = load(dirs)
    pats, parents = compile_all(defs, users)
    for line in sys.stdin:
        line = line.rstrip('\n'); d = line[0] == 'd'; p = line[2:]
        print(p + '\t' + ' '.join(match(pats, parents, p, d)))
