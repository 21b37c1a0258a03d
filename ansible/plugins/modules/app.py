#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pm2ctl developers
# MIT or Apache-2.0 (see the repository's Cargo.toml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: app
short_description: Start, stop, restart, reload, scale or delete an app pm2ctl runs
description:
  - Acts on one app pm2ctl knows on the managed host (applied from an ecosystem file, or
    started with C(pm2ctl start)) through pm2ctl's own verbs C(start), C(stop), C(restart),
    C(reload), C(delete) and C(scale).
  - Reads C(pm2ctl jlist) first and does nothing when the app already is as asked, except for
    C(restarted) and C(reloaded), which always act.
version_added: "0.1.0"
author:
  - pm2ctl developers (@pm2ctl)
extends_documentation_fragment:
  - pm2ctl.pm2ctl.pm2ctl
options:
  name:
    description:
      - The app's name.
    type: str
    required: true
  state:
    description:
      - C(started) starts the instances that do not run; C(stopped) stops them (the app stays
        known, as stopped); C(restarted) gives each instance a new process; C(reloaded) replaces
        them one at a time, each new one ready before the next (no request lost for a cluster
        app); C(absent) deletes the app.
    type: str
    choices: [started, stopped, restarted, reloaded, absent]
    default: started
  instances:
    description:
      - How many instances the app runs (C(pm2ctl scale)); instances are removed from the
        highest index down and added at the lowest free one, the others keep running.
    type: int
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: reads what runs and reports what would change, changing nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: pm2ctl.pm2ctl.apply
  - module: pm2ctl.pm2ctl.facts
'''

EXAMPLES = r'''
- name: Rolling reload, one host at a time
  hosts: web
  serial: 1
  tasks:
    - name: Reload web with no downtime
      pm2ctl.pm2ctl.app:
        name: web
        state: reloaded

- name: Four instances of the API
  pm2ctl.pm2ctl.app:
    name: api
    instances: 4

- name: No more worker
  pm2ctl.pm2ctl.app:
    name: worker
    state: absent
'''

RETURN = r'''
instances:
  description: The app's instances after the task, as pm2ctl.pm2ctl.facts describes them.
  returned: always
  type: list
  elements: dict
  sample:
    - name: web
      pm_id: 0
      status: online
      pid: 4242
      memory: 41943040
      restart_time: 0
actions:
  description: The pm2ctl commands run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: ["scale web 4", "reload web"]
version:
  description: The pm2ctl version on the host.
  returned: when pm2ctl was found
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pm2ctl.pm2ctl.plugins.module_utils.pm2ctl import (
    COMMON_ARGUMENT_SPEC,
    Pm2ctl,
)

# What `state` asks of an app's instances: the verb, and when it is needed.
VERBS = dict(
    started=('start', lambda rows: any(r['status'] != 'online' for r in rows)),
    stopped=('stop', lambda rows: any(r['status'] != 'stopped' for r in rows)),
    restarted=('restart', lambda rows: True),
    reloaded=('reload', lambda rows: True),
)


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', default='started',
                   choices=['started', 'stopped', 'restarted', 'reloaded', 'absent']),
        instances=dict(type='int'),
    )
    argument_spec.update(COMMON_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    name = module.params['name']
    state = module.params['state']
    instances = module.params['instances']
    if instances is not None and instances < 1:
        module.fail_json(msg='instances must be 1 or more (state=absent deletes the app)')
    if instances is not None and state == 'absent':
        module.fail_json(msg='instances and state=absent do not go together')
    pm2ctl = Pm2ctl(module)

    def rows():
        return [r for r in pm2ctl.apps() if r['name'] == name]

    current = rows()
    actions = []

    def act(*action):
        actions.append(' '.join(action))
        if not module.check_mode:
            pm2ctl.run_or_fail(*action)

    if state == 'absent':
        if current:
            act('delete', name)
    else:
        if not current:
            module.fail_json(
                msg='pm2ctl knows no app named %s on this host: apply an ecosystem file that '
                    'defines it first (pm2ctl.pm2ctl.apply)' % name)
        if instances is not None and len(current) != instances:
            act('scale', name, str(instances))
            if not module.check_mode:
                current = rows()
        verb, needed = VERBS[state]
        if needed(current):
            act(verb, name)

    module.exit_json(
        changed=bool(actions),
        actions=actions,
        instances=current if module.check_mode or not actions else rows(),
        version=pm2ctl.version,
    )


if __name__ == '__main__':
    main()
