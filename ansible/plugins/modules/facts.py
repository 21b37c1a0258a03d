#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pm2ctl developers
# MIT or Apache-2.0 (see the repository's Cargo.toml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: facts
short_description: What pm2ctl runs on a host, as facts
description:
  - Reads C(pm2ctl jlist) on the managed host and sets C(ansible_facts.pm2ctl_apps), one entry
    per instance.
version_added: "0.1.0"
author:
  - pm2ctl developers (@pm2ctl)
extends_documentation_fragment:
  - pm2ctl.pm2ctl.pm2ctl
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: reads only.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
seealso:
  - module: pm2ctl.pm2ctl.apply
  - module: pm2ctl.pm2ctl.app
'''

EXAMPLES = r'''
- name: Read what runs
  pm2ctl.pm2ctl.facts:

- name: Every instance of web is online
  ansible.builtin.assert:
    that: >-
      ansible_facts.pm2ctl_apps | selectattr('name', 'equalto', 'web')
      | rejectattr('status', 'equalto', 'online') | list | length == 0
'''

RETURN = r'''
ansible_facts:
  description: The facts set.
  returned: always
  type: complex
  contains:
    pm2ctl_apps:
      description:
        - One entry per instance, as C(pm2ctl jlist) reports it (PM2's fields, flattened).
        - C(memory) is the main process' resident memory in bytes; C(restart_time) counts its
          restarts; C(unit) is its systemd service.
      returned: always
      type: list
      elements: dict
      sample:
        - name: web
          pm_id: 0
          status: online
          pid: 4242
          memory: 41943040
          cpu: 0.4
          restart_time: 0
          namespace: default
          instance: 0
          unit: pm2ctl-web@0.service
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


def main():
    module = AnsibleModule(argument_spec=dict(COMMON_ARGUMENT_SPEC), supports_check_mode=True)
    pm2ctl = Pm2ctl(module)
    module.exit_json(changed=False, ansible_facts=dict(pm2ctl_apps=pm2ctl.apps()),
                     version=pm2ctl.version)


if __name__ == '__main__':
    main()
