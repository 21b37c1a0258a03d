# -*- coding: utf-8 -*-
# Copyright: pm2ctl developers
# MIT or Apache-2.0 (see the repository's Cargo.toml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options every pm2ctl.pm2ctl module takes (module_utils/pm2ctl.py's
    COMMON_ARGUMENT_SPEC), and what each needs on the managed host."""

    DOCUMENTATION = r'''
options:
  scope:
    description:
      - Which systemd manager, the system's or the connecting user's (C(--system) or C(--user)).
    type: str
    choices: [system, user]
    default: system
  binary:
    description:
      - The pm2ctl to run; by default the one in C(PATH).
    type: path
requirements:
  - pm2ctl 0.1.0 or newer on the managed host; where it is missing or older the task fails
    saying so.
attributes:
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
'''
