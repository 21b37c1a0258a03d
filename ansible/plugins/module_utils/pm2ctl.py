# -*- coding: utf-8 -*-
# Copyright: pm2ctl developers
# MIT or Apache-2.0 (see the repository's Cargo.toml)

"""Running the installed pm2ctl on a managed host and reading its JSON.

The modules hold no logic of pm2ctl's own: they find the binary, check that it is recent
enough, run one of its verbs and report what it printed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

# The oldest pm2ctl whose `apply --json` and `jlist` these modules read.
MIN_VERSION = (0, 1, 0)

COMMON_ARGUMENT_SPEC = dict(
    scope=dict(type='str', default='system', choices=['system', 'user']),
    binary=dict(type='path'),
)


def _version_text(version):
    return '.'.join(str(part) for part in version)


class Pm2ctl(object):
    """The pm2ctl of the host a module runs on."""

    def __init__(self, module):
        self.module = module
        self.scope = module.params['scope']
        self.binary = self._find(module.params.get('binary'))
        self.version = self._check_version()

    def _find(self, binary):
        found = binary if binary else self.module.get_bin_path('pm2ctl')
        if not found or not os.access(found, os.X_OK):
            where = binary if binary else 'no pm2ctl in PATH'
            self.module.fail_json(
                msg='pm2ctl is not installed on this host (%s); install its package (pm2ctl %s '
                    'or newer) first' % (where, _version_text(MIN_VERSION)))
        return found

    def _check_version(self):
        rc, out, err = self.module.run_command([self.binary, '--version'])
        match = re.search(r'(\d+)\.(\d+)\.(\d+)', out)
        if rc != 0 or not match:
            self.module.fail_json(
                msg='%s --version did not print a version (exit %d: %s); pm2ctl %s or newer '
                    'is needed' % (self.binary, rc, (err or out).strip(),
                                   _version_text(MIN_VERSION)),
                rc=rc, stdout=out, stderr=err)
        version = tuple(int(part) for part in match.groups())
        if version < MIN_VERSION:
            self.module.fail_json(
                msg='pm2ctl %s on this host is too old: these modules need pm2ctl %s or newer '
                    '(its `apply --json`); upgrade its package'
                    % (_version_text(version), _version_text(MIN_VERSION)),
                version=_version_text(version))
        return _version_text(version)

    def argv(self, *args):
        """pm2ctl's command line for a verb, with the manager `scope` names."""
        argv = [self.binary] + list(args)
        argv.append('--user' if self.scope == 'user' else '--system')
        return argv

    def run(self, *args):
        """Runs a verb: (exit status, stdout, stderr)."""
        return self.module.run_command(self.argv(*args))

    def run_or_fail(self, *args):
        rc, out, err = self.run(*args)
        if rc != 0:
            self.module.fail_json(
                msg='pm2ctl %s failed: %s' % (' '.join(args), (err or out).strip()),
                rc=rc, stdout=out, stderr=err)
        return out, err

    def apps(self):
        """What `pm2ctl jlist` reports, one entry per instance, in the facts' shape."""
        out, err = self.run_or_fail('jlist')
        try:
            rows = json.loads(out)
        except ValueError as e:
            self.module.fail_json(msg='pm2ctl jlist printed no JSON (%s)' % e, stdout=out,
                                  stderr=err)
        return [instance_fact(row) for row in rows]


def instance_fact(row):
    """One `jlist` row (PM2's shape) as an entry of `pm2ctl_apps`."""
    env = row.get('pm2_env') or {}
    monit = row.get('monit') or {}
    return dict(
        name=row.get('name'),
        pm_id=row.get('pm_id'),
        status=env.get('status'),
        pid=row.get('pid'),
        memory=monit.get('memory'),
        cpu=monit.get('cpu'),
        restart_time=env.get('restart_time'),
        namespace=env.get('namespace'),
        instance=env.get('NODE_APP_INSTANCE'),
        unit=env.get('unit'),
    )
