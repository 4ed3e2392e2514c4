import { postgresContractStores } from "../../../tests/support/test-db.ts";
import { webhooksContract } from "../webhooks.contract.ts";

webhooksContract("postgres", postgresContractStores());
