module.exports = () => ({ apps: [] });
