// A background worker in fork mode: prints a heartbeat to stdout and, now and then, a warning
// to stderr, so `pm2ctl logs worker --err` has something to show.
'use strict';
let beat = 0;
setInterval(() => {
  beat += 1;
  console.log(`heartbeat ${beat}`);
  if (beat % 10 === 0) console.error(`warning: ${beat} beats and nothing to do`);
}, 1000);
