import { postgresContractStores } from "../../../tests/support/test-db.ts";
import { accountsContract } from "../accounts.contract.ts";

accountsContract("postgres", postgresContractStores());
