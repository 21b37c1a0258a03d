# Stands in for the get-pip.py that `ansible-test` downloads to put pip in the venvs it makes
# for its sanity tests, from a host outside the package registries: pip from the
# interpreter's own ensurepip, then what ansible-test asked for (pinned) from PyPI.
# tests/prerequisites puts it where ansible-test looks first.
import subprocess
import sys

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'],
                      stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
