module.exports = {
  apps: [{ name: "a", script: "a.js" }
};
