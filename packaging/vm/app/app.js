// The full-boot test's app: answers every request with its pid and instance index, and on
// GET /leak starts allocating memory until the cgroup limit (max_memory_restart) kills it.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 8080);
const instance = process.env.NODE_APP_INSTANCE ?? '';
const hoard = [];

http
  .createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ pid: process.pid, instance }) + '\n');
    if (req.url === '/leak') {
      console.log(`instance ${instance} leaking on request`);
      // Buffer.alloc fills the pages, so they are resident: 16 MiB every 50 ms.
      setInterval(() => hoard.push(Buffer.alloc(16 << 20, 1)), 50);
    }
  })
  .listen(port, () => console.log(`listening on ${port} pid=${process.pid} instance=${instance}`));
