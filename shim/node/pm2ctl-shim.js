// pm2ctl's Node shim, loaded into node apps with NODE_OPTIONS=--require <this file>,
// so that apps written for PM2 run unmodified under systemd:
//
// - Socket activation: when systemd passed listening sockets (LISTEN_FDS, for this
//   process: LISTEN_PID), the app's first `listen()` on a TCP port adopts fd 3, the
//   next one fd 4, and so on, each fd once. Every instance of a cluster app then
//   serves the port systemd holds, which stays open across restarts.
// - LISTEN_* are removed from the environment so child processes do not take them.
// - `process.send` exists even without an IPC channel (there is none under systemd),
//   so PM2-style apps calling `process.send('ready')` do not crash; 'ready' becomes
//   READY=1 on NOTIFY_SOCKET (for wait_ready, Type=notify).
//
// No dependencies, and nothing happens for a process systemd did not start this way.
'use strict';

const net = require('net');
const childProcess = require('child_process');

const SD_LISTEN_FDS_START = 3;

// Servers that took a systemd socket, for a later graceful drain on the stop signal.
const adoptedServers = [];

function takeListenFds(env) {
  const count = Number.parseInt(env.LISTEN_FDS || '', 10);
  const forUs = env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) === process.pid;
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!forUs || !Number.isInteger(count) || count < 1) return [];
  return Array.from({ length: count }, (_, i) => SD_LISTEN_FDS_START + i);
}

// The TCP port a `listen(...)` call asks for, or null for anything else (a unix path,
// a handle, an fd, port 0 or none, which mean "any port").
function requestedTcpPort(args) {
  const first = args[0];
  let port = first;
  if (first !== null && typeof first === 'object') {
    if (first.path !== undefined || first.fd !== undefined || first.handle !== undefined) return null;
    if (first._handle !== undefined) return null; // a server or socket passed as handle
    port = first.port;
  }
  if (typeof port === 'string' && /^\s*\d+\s*$/.test(port)) port = Number(port);
  if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) return null;
  return port;
}

function installSocketActivation(fds) {
  if (fds.length === 0) return;
  const originalListen = net.Server.prototype.listen;
  net.Server.prototype.listen = function listen(...args) {
    if (fds.length === 0 || requestedTcpPort(args) === null) {
      return originalListen.apply(this, args);
    }
    const fd = fds.shift();
    const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
    const backlog = typeof args[0] === 'object' ? args[0].backlog : undefined;
    const options = backlog === undefined ? { fd } : { fd, backlog };
    adoptedServers.push(this);
    return callback ? originalListen.call(this, options, callback) : originalListen.call(this, options);
  };
}

function notifyReady() {
  if (!process.env.NOTIFY_SOCKET) return;
  // systemd-notify (252) sends from our pid as its parent and waits on a barrier until
  // systemd has read the message, so the notification cannot be lost to a race.
  const child = childProcess.spawn('systemd-notify', ['--ready'], { stdio: 'ignore' });
  child.on('error', (err) => {
    process.emitWarning(`pm2ctl: could not signal readiness with systemd-notify: ${err.message}`);
  });
}

function installProcessSend() {
  if (typeof process.send === 'function') return; // a real IPC channel: leave it alone
  process.send = function send(message, ...rest) {
    if (message === 'ready') notifyReady();
    const callback = rest.find((arg) => typeof arg === 'function');
    if (callback) process.nextTick(callback, null);
    return true;
  };
}

installSocketActivation(takeListenFds(process.env));
installProcessSend();

module.exports = { adoptedServers, requestedTcpPort };
