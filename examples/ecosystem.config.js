// The same ecosystem as ecosystem.toml, the way PM2 users write it.
// `pm2ctl import examples/ecosystem.config.js` prints the TOML; pm2ctl also reads this file directly.
module.exports = {
  apps: [
    {
      name: 'hello',
      script: 'hello.js',
      user: 'nobody',
      exec_mode: 'cluster',
      instances: 2,
      max_memory_restart: '200M',
      env: { PORT: 8080, NODE_ENV: 'development' },
      env_production: { NODE_ENV: 'production' },
    },
    {
      name: 'worker',
      script: 'worker.js',
      user: 'nobody',
      restart_delay: 2000,
      kill_timeout: 5000,
    },
  ],
};
