/** Loads the CLI modules that register their own commands (server processes, in-script commands). */
import "./audit.ts";
import "./db.ts";
import "./init.ts";
import "./serve.ts";
import "./replay.ts";
import "./validate.ts";
import "./webhooks.ts";
import "./registry.ts";
import "./schedules.ts";
import "./users.ts";
import "./doctor.ts";
import "./nodes.ts";
