// A plain Node HTTP app, written as for PM2: it listens on $PORT and knows nothing of systemd.
// In cluster mode every instance listens on the same port; pm2ctl's Node shim hands each one
// the socket systemd holds, so a restart drops no connection.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 3000);
const instance = process.env.NODE_APP_INSTANCE ?? '0';

http
  .createServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`hello from instance ${instance} (pid ${process.pid})\n`);
  })
  .listen(port, () => console.log(`instance ${instance} serving on port ${port}`));
