import { postgresContractStores } from "../../../tests/support/test-db.ts";
import { schedulesContract } from "../schedules.contract.ts";

schedulesContract("postgres", postgresContractStores());
