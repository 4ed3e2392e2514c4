import { sqliteContractStores } from "../../../tests/support/test-db.ts";
import { controlContract } from "../control.contract.ts";

controlContract("sqlite", sqliteContractStores());
