import { sqliteContractStores } from "../../../tests/support/test-db.ts";
import { schedulesContract } from "../schedules.contract.ts";

schedulesContract("sqlite", sqliteContractStores());
