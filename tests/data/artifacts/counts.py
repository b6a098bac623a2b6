#!/usr/bin/env python3
# Independent counts for tests/unit/t_artifacts.c, computed with PyYAML (not libyaml's
# loader, not our code): python3 tests/data/artifacts/counts.py DIR [DIR...]
# Rules (docs/artifacts.md): a source applies to Linux when its supported_os (else the
# definition's; an empty list says nothing) is absent or names Linux.
import glob, os, sys
import yaml

defs = {}
files = 0
for d in sys.argv[1:]:
    for f in sorted(glob.glob(os.path.join(d, '*.yaml'))):
        files += 1
        for doc in yaml.safe_load_all(open(f)):
            if doc:
                defs[doc['name']] = doc
names = set(defs) | {a for d in defs.values() for a in d.get('aliases', [])}
used = skipped_type = skipped_os = linux = missing = globs = skipped_paths = 0
for doc in defs.values():
    dos = doc.get('supported_os') or None
    applies_any = False
    for s in doc['sources']:
        sos = s.get('supported_os') or dos
        applies = sos is None or 'Linux' in sos
        if s['type'] == 'ARTIFACT_GROUP':
            missing += sum(1 for m in s['attributes']['names'] if m not in names)
        if not applies:
            skipped_os += 1
            continue
        applies_any = True
        if s['type'] not in ('FILE', 'PATH', 'DIRECTORY', 'ARTIFACT_GROUP'):
            skipped_type += 1
            continue
        used += 1
        for p in s['attributes'].get('paths', []):
            globs += 1
            rest = p.replace('%%users.homedir%%', '', 1) if p.startswith('%%users.homedir%%') else p
            if '%%' in rest.replace('%%users.username%%', ''):
                skipped_paths += 1
    linux += applies_any
print(f'files {files} definitions {len(defs)} linux_definitions {linux} sources_used {used} '
      f'sources_skipped_type {skipped_type} sources_skipped_os {skipped_os} '
      f'missing_group_members {missing} paths_skipped {skipped_paths} linux_globs {globs}')
