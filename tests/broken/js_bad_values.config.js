module.exports = {
  apps: [{ name: "a", script: "a.js", instances: "lots", kill_timeout: -1, maxMemoryRestrat: "1G" }],
};
