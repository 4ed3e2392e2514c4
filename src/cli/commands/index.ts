/** Loads the CLI modules that register their own commands (server processes, in-script commands). */
import "./init.ts";
import "./processes.ts";
import "./replay.ts";
import "./validate.ts";
import "./schedules.ts";
