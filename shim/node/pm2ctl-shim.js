// pm2ctl's Node shim, loaded into node apps with NODE_OPTIONS=--require <this file>,
// so that apps written for PM2 run unmodified under systemd:
//
// - Socket activation: when systemd passed listening sockets (LISTEN_FDS, for this
//   process: LISTEN_PID), the app's first `listen()` on a TCP port adopts fd 3, the
//   next one fd 4, and so on, each fd once. Every instance of a cluster app then
//   serves the port systemd holds, which stays open across restarts.
// - A port only the code knows: the instances of a cluster app without `port` (pm2ctl sets
//   exec_mode=cluster_mode and instances=N, and passes no socket) listen on TCP ports with
//   SO_REUSEPORT where Node offers it (`reusePort`, Node 22.12 and later), so they share
//   `app.listen(8004)` as PM2's cluster master shares it, the kernel spreading connections.
//   With an older Node the port cannot be shared between processes: the instance that finds
//   it taken says so on stderr, with the fix (`port = 8004`, a socket systemd holds), then
//   fails as it would have.
// - LISTEN_* are removed from the environment so child processes do not take them.
// - `process.send` exists even without an IPC channel (there is none under systemd),
//   so PM2-style apps calling `process.send('ready')` do not crash; 'ready' becomes
//   READY=1 on NOTIFY_SOCKET (for wait_ready, Type=notify).
// - Graceful stop on the stop signal (SIGINT, SIGTERM and $PM2CTL_KILL_SIGNAL):
//   every server that listened stops accepting (only its listening handle is closed:
//   the socket systemd holds stays open and queues new connections for the next
//   instance), requests in flight finish, each response sent from then on carries
//   `Connection: close` so keep-alive clients reconnect elsewhere, connections still
//   idle after a grace period are closed, and the process exits by the same signal
//   as soon as no connection is left, at the latest shortly before kill_timeout.
//   Closing idle keep-alive connections at once would race with clients sending
//   their next request on them (the cause of the errors seen with a plain restart).
//   An app with its own handler for that signal decides itself when to exit, as
//   under PM2 (the `signal-exit` package's listeners are not such a handler); the shim still stops accepting and drains, and the app's own
//   `server.close(cb)` then calls back once the drain is done (without an error).
//
// Environment read by the shim (set by pm2ctl's plan; all optional):
//   PM2CTL_KILL_TIMEOUT_MS         the app's kill_timeout (default 1600, PM2's): the
//                                  drain ends before it, so systemd never needs SIGKILL
//   PM2CTL_KILL_SIGNAL             the app's kill_signal (e.g. SIGQUIT), handled like
//                                  SIGINT and SIGTERM
//   PM2CTL_SHUTDOWN_WITH_MESSAGE   "1" or "true": on the stop signal, also emit
//                                  process 'message' 'shutdown', as PM2 sends it for
//                                  shutdown_with_message; an app listening for
//                                  'message' then decides when to exit
//   PM2CTL_DRAIN_GRACE_MS          how long an idle keep-alive connection may stay
//                                  open once the drain started (default 1000, capped
//                                  at half the time left before kill_timeout)
//   PM2CTL_HANDOVER                "1": hand the socket over on SIGWINCH (below)
//   PM2CTL_HANDOVER_DIR            where `pm2ctl apply` leaves a changed environment for
//                                  the new process (<dir>/<INVOCATION_ID>.json)
//   PM2CTL_LISTEN_TIMEOUT_MS       the app's listen_timeout (default 3000, PM2's)
//   PM2CTL_WAIT_READY              "1": the app has wait_ready
//
// Hand-over reload (PM2CTL_HANDOVER=1, which pm2ctl's plan sets for an app run by `node`
// on a socket systemd holds): on SIGWINCH (ignored by default, and meaningless without a
// terminal) the process starts its replacement, the same node, arguments, working
// directory and environment it started with (with the changes `pm2ctl apply` left in
// PM2CTL_HANDOVER_DIR, when it rolls an app whose `env` changed), passing it the same
// listening sockets, and
// keeps serving until the new process is ready: listening on its socket, or with
// wait_ready, `process.send('ready')`; without wait_ready, listen_timeout passing with
// the new process up counts as ready, as under PM2. It then tells systemd the new main
// pid (MAINPID=, which NotifyAccess=all lets any process of the unit send) and drains
// as on its stop signal. So the socket never goes without a process accepting on it,
// and the app never runs an instance short. If the new process exits or (wait_ready) is
// not ready in time, the old one keeps serving and says why in the unit's status text,
// starting with "pm2ctl: reload failed", where `pm2ctl reload` reads it.
//
// No dependencies, and nothing happens for a process systemd did not start this way.
'use strict';

const net = require('net');
const os = require('os');
const childProcess = require('child_process');

const fs = require('fs');

const SD_LISTEN_FDS_START = 3;
const PM2_DEFAULT_KILL_TIMEOUT_MS = 1600;
const PM2_DEFAULT_LISTEN_TIMEOUT_MS = 3000;
const HANDOVER_SIGNAL = 'SIGWINCH';
const RELOAD_FAILED = 'pm2ctl: reload failed';
// Written before the new process starts, so everything it logs comes after this line.
const HANDOVER_STARTING = `pm2ctl: ${HANDOVER_SIGNAL}: starting a new process`;
const HANDOVER_STARTED = `pm2ctl: ${HANDOVER_SIGNAL}: started new process`;
const DEFAULT_DRAIN_GRACE_MS = 1000;

// Servers that took a systemd socket.
const adoptedServers = [];

// The listening sockets this process was given: by systemd (LISTEN_FDS for LISTEN_PID), or
// by the process it replaces in a hand-over (PM2CTL_HANDOVER_FDS; its pid is not known
// before it starts, so LISTEN_PID cannot name it).
function takeListenFds(env) {
  const handedOver = Number.parseInt(env.PM2CTL_HANDOVER_FDS || '', 10);
  const count = Number.isInteger(handedOver) ? handedOver : Number.parseInt(env.LISTEN_FDS || '', 10);
  const forUs =
    Number.isInteger(handedOver) || (env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) === process.pid);
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  delete env.PM2CTL_HANDOVER_FDS;
  if (!forUs || !Number.isInteger(count) || count < 1) return [];
  return Array.from({ length: count }, (_, i) => SD_LISTEN_FDS_START + i);
}

// In a process started by a hand-over: the fd on which to tell the old process it is ready.
function takeReadyFd(env) {
  const fd = Number.parseInt(env.PM2CTL_HANDOVER_READY_FD || '', 10);
  delete env.PM2CTL_HANDOVER_READY_FD;
  return Number.isInteger(fd) && fd > 2 ? fd : null;
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

function positiveInteger(text, fallback) {
  const value = Number.parseInt(text || '', 10);
  return Number.isInteger(value) && value >= 0 ? value : fallback;
}

function readStopConfig(env) {
  const killTimeoutMs = positiveInteger(env.PM2CTL_KILL_TIMEOUT_MS, PM2_DEFAULT_KILL_TIMEOUT_MS);
  // Keep a margin before kill_timeout for the exit itself: systemd's SIGKILL must never
  // be what ends the drain.
  const drainMs = Math.max(0, killTimeoutMs - Math.min(500, Math.floor(killTimeoutMs / 4)));
  const graceMs = Math.min(
    positiveInteger(env.PM2CTL_DRAIN_GRACE_MS, DEFAULT_DRAIN_GRACE_MS),
    Math.floor(drainMs / 2),
  );
  const signals = new Set(['SIGINT', 'SIGTERM']);
  const extra = (env.PM2CTL_KILL_SIGNAL || '').trim().toUpperCase();
  const named = extra.startsWith('SIG') ? extra : `SIG${extra}`;
  let killSignal = 'SIGINT'; // PM2's
  if (extra && os.constants.signals[named] !== undefined && named !== 'SIGKILL' && named !== 'SIGSTOP') {
    signals.add(named);
    killSignal = named;
  }
  const withMessage = /^(1|true|yes)$/i.test((env.PM2CTL_SHUTDOWN_WITH_MESSAGE || '').trim());
  return { killTimeoutMs, drainMs, graceMs, signals: [...signals], killSignal, withMessage };
}

// ---- Connection tracking, for the drain --------------------------------------------

const servers = new Set(); // every server that listened
const connections = new Set(); // their open connections
const responsesInFlight = new Set(); // HTTP responses not finished yet
const requestsOnSocket = Symbol('pm2ctl.requestsOnSocket');
let drain = null; // set once the stop signal arrived

// TLS servers hand requests a TLS socket wrapping the raw one, so they are tracked at
// the TLS level (duck-typed to avoid loading tls into every app).
function connectionEvent(server) {
  return typeof server.setSecureContext === 'function' ? 'secureConnection' : 'connection';
}

// Asks HTTP/1 to end the connection after this response (if it has not been sent yet).
function closeAfter(response) {
  if (response.headersSent) return;
  response.shouldKeepAlive = false;
  try {
    response.setHeader('Connection', 'close');
  } catch {
    // Headers are being written right now: the idle grace closes the connection.
  }
}

// Ends an idle connection: FIN first, so the client sees a clean close, then the
// socket is released without waiting for the client's own FIN (or keepAliveTimeout).
function closeIfIdle(socket) {
  if (socket[requestsOnSocket] !== 0 || socket.destroyed) return;
  socket.end();
  if (socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}

function scheduleIdleClose(socket) {
  setTimeout(closeIfIdle, drain.graceMs, socket).unref();
}

function track(server) {
  if (servers.has(server)) return;
  servers.add(server);
  server.on(connectionEvent(server), (socket) => {
    socket[requestsOnSocket] = 0;
    connections.add(socket);
    socket.once('close', () => {
      connections.delete(socket);
      finishIfDrained();
    });
    if (drain) scheduleIdleClose(socket);
  });
  // Prepended, so that `Connection: close` is set before an app answering synchronously
  // writes its headers.
  server.prependListener('request', (request, response) => {
    const socket = request.socket;
    if (socket[requestsOnSocket] !== undefined) socket[requestsOnSocket] += 1;
    responsesInFlight.add(response);
    if (drain) closeAfter(response);
    response.once('close', () => {
      responsesInFlight.delete(response);
      if (socket[requestsOnSocket] !== undefined) socket[requestsOnSocket] -= 1;
      // Answered before the drain with keep-alive: give the client the grace to send its
      // next request (answered with `Connection: close`) before closing.
      if (drain) scheduleIdleClose(socket);
    });
  });
}

// ---- A port only the code knows, in cluster mode ----------------------------------

// Whether the instances of this app are to share the ports its code listens on: a cluster
// app of several instances to which systemd passed no socket.
function sharesPortsInCode(env, fds) {
  return fds.length === 0 && env.exec_mode === 'cluster_mode' && Number(env.instances) > 1;
}

// `reusePort` in net.Server#listen: Node 22.12+ (and 23.1+).
function nodeHasReusePort(version) {
  const [major, minor] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

// Node's `toNumber` for listen's backlog: a non-negative number, else false.
function backlogOf(value) {
  const n = Number(value);
  return n >= 0 ? n : false;
}

// The arguments of `listen(port[, host][, backlog][, cb])` or `listen(options[, cb])` as
// `[options, cb]`, with `reusePort` set.
function withReusePort(args) {
  const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
  let options;
  if (args[0] !== null && typeof args[0] === 'object') {
    options = { ...args[0] };
  } else {
    options = { port: args[0] };
    if (typeof args[1] === 'string') options.host = args[1];
    const backlog = (args.length > 1 && backlogOf(args[1])) || (args.length > 2 && backlogOf(args[2]));
    if (backlog) options.backlog = backlog;
  }
  options.reusePort = true;
  return callback ? [options, callback] : [options];
}

// Without `reusePort`: when the port is taken (most likely by another instance), say why
// and what to write, then let the error go where it would have gone.
function explainTakenPort(server, port, env) {
  server.prependOnceListener('error', (error) => {
    if (error && error.code === 'EADDRINUSE') {
      process.stderr.write(
        `pm2ctl: port ${port} is taken, most likely by another instance of this cluster app ` +
          `(instance ${env.NODE_APP_INSTANCE || '?'}): Node ${process.versions.node} cannot share ` +
          `a port between processes (reusePort needs Node 22.12 or later); set \`port = ${port}\` ` +
          `on the app, and systemd holds one socket all its instances share\n`,
      );
    }
    // Alone, this listener would swallow the error the app did not handle: rethrow it.
    if (server.listenerCount('error') === 0) throw error;
  });
}

// ---- Socket activation ---------------------------------------------------------------

function installListen(fds, env) {
  const originalListen = net.Server.prototype.listen;
  const share = sharesPortsInCode(env, fds);
  const reusePort = share && nodeHasReusePort(process.versions.node);
  net.Server.prototype.listen = function listen(...args) {
    track(this);
    const port = requestedTcpPort(args);
    if (share && port !== null) {
      if (reusePort) return originalListen.apply(this, withReusePort(args));
      explainTakenPort(this, port, env);
      return originalListen.apply(this, args);
    }
    if (fds.length === 0 || port === null) {
      return originalListen.apply(this, args);
    }
    const fd = fds.shift();
    const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
    const backlog = typeof args[0] === 'object' ? args[0].backlog : undefined;
    const options = backlog === undefined ? { fd } : { fd, backlog };
    adoptedServers.push(this);
    if (fds.length === 0 && !handover.waitReady) this.once('listening', tellReplacedProcess);
    return callback ? originalListen.call(this, options, callback) : originalListen.call(this, options);
  };
}

// ---- Graceful stop -------------------------------------------------------------------

// Closes only the listening handle (not http.Server#close, which since Node 19 also drops
// idle keep-alive connections at once). The app's own later `close(cb)` calls back when
// the drain is done instead of failing with ERR_SERVER_NOT_RUNNING.
function stopAccepting(server) {
  if (!server.listening) return;
  let closed = false;
  server.once('close', () => {
    closed = true;
  });
  net.Server.prototype.close.call(server);
  server.close = function close(callback) {
    if (typeof callback === 'function') {
      if (closed) process.nextTick(callback);
      else this.once('close', () => callback());
    }
    return this;
  };
}

function exitBy(signal) {
  // Dying by the signal itself is what the app would have done without the shim, and
  // what systemd counts as a clean stop.
  for (const name of stopConfig.signals) process.removeListener(name, onStopSignal);
  process.kill(process.pid, signal);
  setTimeout(() => process.exit(128 + (os.constants.signals[signal] || 0)), 1000);
}

function finishIfDrained() {
  if (!drain || drain.appDecides || connections.size > 0) return;
  exitBy(drain.signal);
}

// The listeners the `signal-exit` package (loaded by many dependencies: write-file-atomic,
// execa, proper-lockfile…) put on each stop signal: one per loaded copy, counted on its shared
// emitter (3.x: process.__signal_exit_emitter__, 4.x: a global symbol). They are no app
// handler: signal-exit re-raises the signal only when its own listeners are the only ones,
// so counting them as the app's would leave both waiting for the other until SIGKILL. Once
// the shim's drain removes its own listener and re-raises, signal-exit runs its exit hooks
// and lets the signal end the process.
function signalExitListeners() {
  let count = 0;
  for (const emitter of [globalThis[Symbol.for('signal-exit emitter')], process.__signal_exit_emitter__]) {
    if (emitter && typeof emitter.count === 'number') count += emitter.count;
  }
  return count;
}

function onStopSignal(signal) {
  if (drain) {
    // A second signal: someone insists; do what Node does by default.
    if (!drain.appDecides) exitBy(signal);
    return;
  }
  if (stopConfig.withMessage) process.emit('message', 'shutdown', undefined);
  const appHandlers = process.listenerCount(signal) - 1 - signalExitListeners();
  const appDecides = appHandlers > 0 || (stopConfig.withMessage && process.listenerCount('message') > 0);
  drain = { signal, appDecides, graceMs: stopConfig.graceMs };
  for (const server of servers) stopAccepting(server);
  for (const response of responsesInFlight) closeAfter(response);
  for (const socket of connections) scheduleIdleClose(socket);
  process.stderr.write(
    `pm2ctl: ${signal}: stopped accepting, draining ${connections.size} connection(s)` +
      (appDecides ? ', the app decides when to exit\n' : `, exiting within ${stopConfig.drainMs} ms\n`),
  );
  if (!appDecides) {
    setTimeout(() => {
      for (const socket of connections) socket.destroy();
      exitBy(signal);
    }, stopConfig.drainMs).unref();
  }
  finishIfDrained();
}

// ---- Hand-over reload ---------------------------------------------------------------

function readHandoverConfig(env) {
  return {
    enabled: /^(1|true|yes)$/i.test((env.PM2CTL_HANDOVER || '').trim()),
    listenTimeoutMs: positiveInteger(env.PM2CTL_LISTEN_TIMEOUT_MS, PM2_DEFAULT_LISTEN_TIMEOUT_MS),
    waitReady: /^(1|true|yes)$/i.test((env.PM2CTL_WAIT_READY || '').trim()),
  };
}

// In the new process: ready (listening on its last socket, or `process.send('ready')`).
function tellReplacedProcess() {
  if (readyFd === null) return;
  const fd = readyFd;
  readyFd = null;
  try {
    fs.writeSync(fd, 'ready\n');
    fs.closeSync(fd);
  } catch {
    // The old process is gone: nothing waits for this any more.
  }
}

// Runs `systemd-notify` with `fields`; `done(error)` once systemd has read them.
function notifySystemd(fields, done) {
  const child = childProcess.spawn('systemd-notify', fields, { stdio: 'ignore' });
  child.on('error', (err) => done(err));
  child.on('exit', (code, signal) =>
    done(code === 0 ? null : new Error(`systemd-notify ${fields[0]} failed (${signal || `exit status ${code}`})`)),
  );
}

// The environment `pm2ctl apply` left for this hand-over when it changed the app's `env`
// (`{"set": {NAME: value}, "unset": [NAME]}` in PM2CTL_HANDOVER_DIR/<INVOCATION_ID>.json);
// none for a plain reload.
function readNewEnvironment() {
  const dir = startup.env.PM2CTL_HANDOVER_DIR;
  const invocation = startup.env.INVOCATION_ID;
  if (!dir || !invocation) return { set: {}, unset: [] };
  let text;
  try {
    text = fs.readFileSync(`${dir}/${invocation}.json`, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return { set: {}, unset: [] };
    throw err;
  }
  const parsed = JSON.parse(text);
  return { set: parsed.set || {}, unset: parsed.unset || [] };
}

function failHandover(why) {
  handingOver = false;
  const text = `${RELOAD_FAILED}: ${why}; pid ${process.pid} keeps serving`;
  process.stderr.write(`${text}\n`);
  notifySystemd([`STATUS=${text}`], () => {});
}

function onHandoverSignal() {
  if (handingOver || drain) return;
  handingOver = true;
  const readyIndex = SD_LISTEN_FDS_START + passedFds.length;
  let changes;
  try {
    changes = readNewEnvironment();
  } catch (err) {
    failHandover(`cannot read the new environment: ${err.message}`);
    return;
  }
  const env = { ...startup.env };
  for (const name of changes.unset) delete env[name];
  Object.assign(env, changes.set);
  env.PM2CTL_HANDOVER_FDS = String(passedFds.length);
  env.PM2CTL_HANDOVER_READY_FD = String(readyIndex);
  // `pm2ctl reload` reports what was logged after this line when the hand-over fails.
  process.stderr.write(`${HANDOVER_STARTING}\n`);
  let replacement;
  try {
    replacement = childProcess.spawn(startup.execPath, [...startup.execArgv, ...startup.argv.slice(1)], {
      cwd: startup.cwd,
      env,
      stdio: ['inherit', 'inherit', 'inherit', ...passedFds, 'pipe'],
    });
  } catch (err) {
    failHandover(`cannot start the new process: ${err.message}`);
    return;
  }
  // No optional chaining here: the shim runs on Node 12 (Debian 11) too.
  const readyPipe = replacement.stdio ? replacement.stdio[readyIndex] : null;
  process.stderr.write(`${HANDOVER_STARTED} ${replacement.pid}; pid ${process.pid} serves until it is ready\n`);
  let settled = false;
  const settle = (why) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (readyPipe) readyPipe.destroy();
    if (why === null) return handOver(replacement);
    // A new process still up (it was not ready in time) may have taken connections already:
    // its own shim drains them on the stop signal.
    if (replacement.exitCode === null && replacement.signalCode === null) replacement.kill('SIGTERM');
    failHandover(why);
  };
  const timer = setTimeout(() => {
    if (handover.waitReady) {
      settle(`new process ${replacement.pid} did not send 'ready' within listen_timeout (${handover.listenTimeoutMs} ms)`);
    } else {
      settle(null); // PM2's rule: up for listen_timeout counts as ready
    }
  }, handover.listenTimeoutMs);
  replacement.on('error', (err) => settle(`cannot start the new process: ${err.message}`));
  replacement.on('exit', (code, signal) =>
    settle(`new process ${replacement.pid} exited (${signal || `status ${code}`}) before it was ready`),
  );
  if (readyPipe) {
    readyPipe.on('data', () => settle(null));
    readyPipe.on('error', () => {});
  }
}

// The new process is ready: make it the unit's main process, then leave as on a stop signal.
function handOver(replacement) {
  replacement.removeAllListeners('exit');
  notifySystemd([`MAINPID=${replacement.pid}`, 'STATUS='], (err) => {
    if (err) {
      replacement.kill('SIGTERM');
      failHandover(`systemd did not take new process ${replacement.pid} as main process: ${err.message}`);
      return;
    }
    replacement.unref();
    process.stderr.write(`pm2ctl: ${HANDOVER_SIGNAL}: handed over to pid ${replacement.pid}\n`);
    // The app's kill_signal, so its own handlers run as on a stop; if one keeps the
    // process alive, it still goes at kill_timeout, as systemd would make it on a stop.
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), stopConfig.killTimeoutMs).unref();
    process.kill(process.pid, stopConfig.killSignal);
  });
}

// ---- Readiness and process.send -----------------------------------------------------

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
    if (message === 'ready') {
      if (readyFd !== null) tellReplacedProcess();
      else notifyReady();
    }
    const callback = rest.find((arg) => typeof arg === 'function');
    if (callback) process.nextTick(callback, null);
    return true;
  };
}

const stopConfig = readStopConfig(process.env);
const handover = readHandoverConfig(process.env);
let readyFd = takeReadyFd(process.env);
let handingOver = false;
const passedFds = takeListenFds(process.env);
// What the replacement starts from: this process as it started, before the app ran.
const startup = {
  execPath: process.execPath,
  execArgv: [...process.execArgv],
  argv: [...process.argv],
  cwd: process.cwd(),
  env: { ...process.env },
};

installListen([...passedFds], process.env);
installProcessSend();
for (const signal of stopConfig.signals) process.on(signal, onStopSignal);
if (handover.enabled && passedFds.length > 0) process.on(HANDOVER_SIGNAL, onHandoverSignal);

module.exports = { adoptedServers, requestedTcpPort, withReusePort, nodeHasReusePort };
