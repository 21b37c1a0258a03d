#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pm2ctl developers
# MIT or Apache-2.0 (see the repository's Cargo.toml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: apply
short_description: Make systemd run what a pm2ctl ecosystem file says
description:
  - Runs C(pm2ctl apply FILE --json) on the managed host and reports what it did.
  - Only the apps that differ from what runs are changed; an app whose definition changed is
    replaced one instance at a time, each new instance ready before the next.
  - The file is checked before anything is touched; an invalid file fails the task with
    pm2ctl's own message (file, line and key) and changes nothing.
version_added: "0.1.0"
author:
  - pm2ctl developers (@pm2ctl)
extends_documentation_fragment:
  - pm2ctl.pm2ctl.pm2ctl
options:
  file:
    description:
      - The ecosystem file on the managed host (C(ecosystem.toml), or PM2's C(.json) or
        C(.config.js)).
    type: path
    required: true
  env:
    description:
      - Apply each app's C(env_<NAME>) table (PM2's C(--env NAME)).
    type: str
  prune:
    description:
      - Also remove the apps applied from this file before that it no longer lists.
    type: bool
    default: false
  reload:
    description:
      - Also roll the apps whose definition did not change, one instance at a time, so new
        code on disk runs with no downtime (PM2's C(startOrReload)).
      - Every app then counts as changed.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: runs C(pm2ctl apply --dry-run), which changes nothing and reports what would change.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: the diff is the plan pm2ctl prints, one line per app that changes.
notes:
  - The JSON document this module reads is described in the repository's docs/apply-json.md.
seealso:
  - module: pm2ctl.pm2ctl.app
  - module: pm2ctl.pm2ctl.facts
'''

EXAMPLES = r'''
- name: Copy the ecosystem file
  ansible.builtin.copy:
    src: ecosystem.toml
    dest: /etc/pm2ctl/ecosystem.toml
    mode: "0644"

- name: Run what it says
  pm2ctl.pm2ctl.apply:
    file: /etc/pm2ctl/ecosystem.toml
    env: production
    prune: true

- name: A user's own apps
  pm2ctl.pm2ctl.apply:
    file: ~/ecosystem.toml
    scope: user
'''

RETURN = r'''
apps:
  description: One entry per app of the file, then the apps pruned (see docs/apply-json.md).
  returned: success or when units failed
  type: list
  elements: dict
  sample:
    - name: web
      action: roll
      reason: pm2ctl-web@0.service runs another definition
      instances: [0, 1]
      units: [pm2ctl-web@0.service, pm2ctl-web@1.service]
orphans:
  description: Apps applied from this file before that it no longer lists, left running.
  returned: success or when units failed
  type: list
  elements: str
failures:
  description: The units that did not start or did not become ready, each with systemd's
    result and its last log lines.
  returned: success or when units failed
  type: list
  elements: dict
  sample:
    - app: web
      unit: pm2ctl-web@0.service
      reason: job failed
      report: "result: timeout\ncause: it did not report ready in time (wait_ready and listen_timeout)"
dry_run:
  description: Whether this was C(pm2ctl apply --dry-run) (check mode).
  returned: success or when units failed
  type: bool
stderr:
  description: What pm2ctl printed on standard error (its progress and messages).
  returned: always
  type: str
version:
  description: The pm2ctl version on the host.
  returned: when pm2ctl was found
  type: str
'''

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pm2ctl.pm2ctl.plugins.module_utils.pm2ctl import (
    COMMON_ARGUMENT_SPEC,
    Pm2ctl,
)


def plan_text(document):
    """The plan as a diff: one line per app that changes, as pm2ctl names its action."""
    lines = []
    for app in document.get('apps') or []:
        if app.get('action') == 'unchanged':
            continue
        line = '%s: %s' % (app.get('name'), app.get('action'))
        if app.get('reason'):
            line += ' (%s)' % app['reason']
        lines.append(line)
        for limit in app.get('limits') or []:
            lines.append('  %s' % limit)
        for unit in app.get('units') or []:
            lines.append('  %s' % unit)
    for orphan in document.get('orphans') or []:
        lines.append('%s: no longer in the file, left running' % orphan)
    return '\n'.join(lines) + ('\n' if lines else '')


def main():
    argument_spec = dict(
        file=dict(type='path', required=True),
        env=dict(type='str'),
        prune=dict(type='bool', default=False),
        reload=dict(type='bool', default=False),
    )
    argument_spec.update(COMMON_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    pm2ctl = Pm2ctl(module)

    args = ['apply', module.params['file'], '--json']
    if module.params['env']:
        args += ['--env', module.params['env']]
    if module.params['prune']:
        args.append('--prune')
    if module.params['reload']:
        args.append('--reload')
    if module.check_mode:
        args.append('--dry-run')
    rc, out, err = pm2ctl.run(*args)

    try:
        document = json.loads(out) if out.strip() else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    result = dict(
        changed=bool(document.get('changed')),
        stderr=err,
        version=pm2ctl.version,
    )
    if 'error' in document or rc != 0 and 'apps' not in document:
        # The file is invalid, or systemd was out of reach: nothing was changed. pm2ctl's
        # own words (file, line and key) are on stderr.
        module.fail_json(msg=err.strip() or document.get('error') or out.strip(), rc=rc,
                         **result)
    for key in ('apps', 'orphans', 'failures', 'dry_run'):
        result[key] = document.get(key)
    if module._diff:
        result['diff'] = dict(prepared=plan_text(document))
    failures = document.get('failures') or []
    if rc != 0 or failures:
        # pm2ctl's own account: each unit that did not start, systemd's result and its last
        # log lines; `failures` has the same per unit.
        units = ', '.join(f.get('unit') or '?' for f in failures)
        module.fail_json(msg=err.strip() or 'pm2ctl apply: did not start: %s' % units, rc=rc,
                         **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
