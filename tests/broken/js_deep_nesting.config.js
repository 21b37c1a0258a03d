let deep = [];
for (let i = 0; i < 500; i++) deep = [deep];
module.exports = { apps: [{ script: "a.js", args: deep }] };
