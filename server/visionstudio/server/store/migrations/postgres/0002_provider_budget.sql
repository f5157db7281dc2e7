-- The provider account's rate budget, shared by every replica that uses the account.
CREATE TABLE provider_budget (
    account  TEXT NOT NULL,
    kind     TEXT NOT NULL,             -- 'images' or 'requests'
    tokens   DOUBLE PRECISION NOT NULL, -- calls that may start now
    updated  DOUBLE PRECISION NOT NULL, -- unix time of the last refill
    PRIMARY KEY (account, kind)
);
