const port = 3000;
throw new Error("missing SECRET");
